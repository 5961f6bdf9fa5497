--
-- The settings of encrypted backups: protech_backup.encryption_recipients
-- takes age public keys or @ and a recipients file, checked when set;
-- protech_backup.encryption_identity_file an absolute path.  Both are
-- hidden from roles that are not superusers.
--
-- not keys
ALTER SYSTEM SET protech_backup.encryption_recipients = 'age1notakey';
ALTER SYSTEM SET protech_backup.encryption_recipients = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHJvb3Q';
ALTER SYSTEM SET protech_backup.encryption_recipients = 'AGE1T2GHDT6664RC9AYQRJRNSP3ZNGLA5QVR2P7A6X6ZL2TH5F0CVGLQZYRMFS';
-- one character changed: the checksum catches it
ALTER SYSTEM SET protech_backup.encryption_recipients = 'age1t2ghdt6664rc9ayqrjrnsp3zngla5qvr2p7a6x6zl2th5f0cvglqzyrmfq';
-- a good key, then a bad one after the comma
ALTER SYSTEM SET protech_backup.encryption_recipients = 'age1t2ghdt6664rc9ayqrjrnsp3zngla5qvr2p7a6x6zl2th5f0cvglqzyrmfs, age1';
-- an empty key between commas
ALTER SYSTEM SET protech_backup.encryption_recipients = 'age1t2ghdt6664rc9ayqrjrnsp3zngla5qvr2p7a6x6zl2th5f0cvglqzyrmfs,,';
-- recipients files that cannot be read
ALTER SYSTEM SET protech_backup.encryption_recipients = '@relative/recipients.txt';
ALTER SYSTEM SET protech_backup.encryption_recipients = '@/nonexistent/recipients.txt';
ALTER SYSTEM SET protech_backup.encryption_identity_file = 'key.txt';
-- good values are accepted
ALTER SYSTEM SET protech_backup.encryption_recipients = 'age1t2ghdt6664rc9ayqrjrnsp3zngla5qvr2p7a6x6zl2th5f0cvglqzyrmfs , age1t2ghdt6664rc9ayqrjrnsp3zngla5qvr2p7a6x6zl2th5f0cvglqzyrmfs';
ALTER SYSTEM SET protech_backup.encryption_identity_file = '/etc/protech_backup/key.txt';
ALTER SYSTEM RESET protech_backup.encryption_recipients;
ALTER SYSTEM RESET protech_backup.encryption_identity_file;
-- empty by default: backups in clear
SHOW protech_backup.encryption_recipients;
-- superuser-only
CREATE ROLE crypt_snoop;
SET ROLE crypt_snoop;
SHOW protech_backup.encryption_identity_file;
SHOW protech_backup.encryption_recipients;
RESET ROLE;
DROP ROLE crypt_snoop;
