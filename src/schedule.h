/*-------------------------------------------------------------------------
 *
 * schedule.h
 *		The cron schedule of protech_backup: its parsed form, the parser,
 *		the computation of the next firing instant, and the check hooks of
 *		the settings protech_backup.schedule and protech_backup.timezone.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PROTECH_BACKUP_SCHEDULE_H
#define PROTECH_BACKUP_SCHEDULE_H

#include "datatype/timestamp.h"
#include "pgtime.h"
#include "utils/guc.h"

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
extern bool protech_backup_check_schedule(char **newval, void **extra,
										  GucSource source);
extern bool protech_backup_check_timezone(char **newval, void **extra,
										  GucSource source);

#endif							/* PROTECH_BACKUP_SCHEDULE_H */
