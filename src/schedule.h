/*-------------------------------------------------------------------------
 *
 * schedule.h
 *		The cron schedule of protech_backup (schedule.c): its parsed form,
 *		the parser, the computation of the next firing instant, and the
 *		messages an invalid schedule or time zone is reported with.  A leaf
 *		module: it depends on no other.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PROTECH_BACKUP_SCHEDULE_H
#define PROTECH_BACKUP_SCHEDULE_H

#include "datatype/timestamp.h"
#include "pgtime.h"

/* the messages of an invalid setting or argument, shared by hook and SQL */
#define PROTECH_BACKUP_SCHEDULE_HINT "Write five fields \"minute hour day-of-month month day-of-week\", " \
	"such as \"0 16 * * *\" for 16:00 every day, or a macro such as \"@daily\"."
#define PROTECH_BACKUP_TIMEZONE_DETAIL "Time zone \"%s\" is not recognized."
#define PROTECH_BACKUP_TIMEZONE_HINT "Use a name from pg_timezone_names, such as \"UTC\" or \"Asia/Manila\"."

/*
 * A parsed schedule: one bit set per field, bit n standing for value n.
 * days_of_week uses 0 for Sunday (a 7 in the text is folded onto it).
 * A day field counts as restricted unless its text starts with "*", which
 * decides how the two day fields combine (see schedule.c).
 */
typedef struct ProtechBackupSchedule
{
	uint64		minutes;		/* bits 0-59 */
	uint32		hours;			/* bits 0-23 */
	uint32		days_of_month;	/* bits 1-31 */
	uint16		months;			/* bits 1-12 */
	uint8		days_of_week;	/* bits 0-6, 0 = Sunday */
	bool		dom_restricted;
	bool		dow_restricted;
} ProtechBackupSchedule;

extern bool protech_backup_parse_schedule(const char *text,
										  ProtechBackupSchedule *result,
										  char **error_detail);
extern TimestampTz protech_backup_next_run(const ProtechBackupSchedule *schedule,
										   pg_tz *tz, TimestampTz after);
extern pg_tz *protech_backup_find_time_zone(const char *name);

#endif							/* PROTECH_BACKUP_SCHEDULE_H */
