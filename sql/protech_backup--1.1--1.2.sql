-- protech_backup 1.1 -> 1.2
--
-- Each change of the SQL API since 1.1, in a section of its own saying what
-- it brings.

\echo Use "ALTER EXTENSION protech_backup UPDATE TO '1.2'" to load this file. \quit
