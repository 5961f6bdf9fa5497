/*-------------------------------------------------------------------------
 *
 * schedule.c
 *		The cron schedule of protech_backup: parse the five-field cron syntax,
 *		and compute the next instant a schedule fires in a time zone.  A leaf
 *		module: the check hooks of protech_backup.schedule and .timezone
 *		(settings.c) and the SQL function protech_backup_next_run()
 *		(sql_functions.c) call it.
 *
 * Syntax.  Five fields separated by white space: minute (0-59), hour
 * (0-23), day-of-month (1-31), month (1-12 or jan-dec) and day-of-week
 * (0-7 or sun-sat, where both 0 and 7 are Sunday).  Each field is a
 * comma-separated list of "*", a value "5" or a range "1-5"; "*" or a range
 * may be followed by a step, "/15" taking every 15th of its values (so
 * "1-30/5" is 1,6,11,16,21,26).  Names are case-insensitive.
 * The macros @yearly and @annually (0 0 1 1 *), @monthly (0 0 1 * *),
 * @weekly (0 0 * * 0), @daily and @midnight (0 0 * * *) and @hourly
 * (0 * * * *) stand for a whole schedule.  A schedule that can never fire,
 * such as "0 0 31 2 *", is rejected.
 *
 * Days.  As in Vixie cron and cronie, a day field counts as restricted
 * unless its text starts with "*".  When both day-of-month and day-of-week
 * are restricted, a day matches when either one matches ("0 0 13 * fri"
 * fires on every 13th and on every Friday); otherwise both must match.
 *
 * Time zones and daylight saving time.  The times of a schedule are local
 * wall-clock times in the given zone.  A matching day is never skipped and
 * no instant fires twice:
 *
 * - a local time that does not exist that day, because the clocks jump
 *   forward over it, fires once at the first instant after the gap: in
 *   America/New_York "30 2 * * *" fires on 2026-03-08 at 03:00 EDT
 *   (07:00 UTC);
 * - a local time that occurs twice, because the clocks fall back over it,
 *   fires once at its first occurrence: in America/New_York "30 1 * * *"
 *   fires on 2026-11-01 at 01:30 EDT (05:30 UTC) and not again at
 *   01:30 EST.  A schedule firing every few minutes likewise fires only
 *   on the first pass through the repeated hour, and all its times inside
 *   a gap fire together, once.
 *
 * PostgreSQL's DetermineTimeZoneOffset() reads an ambiguous local time as
 * the later (standard time) one, so local_to_utc() below does its own
 * conversion from the zone's transitions.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "parser/scansup.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/timestamp.h"

#include "schedule.h"

#define SCHEDULE_FIELDS 5

/* how far ahead protech_backup_next_run() looks, enough for 29 February */
#define SEARCH_YEARS 28
/* the last local year searched: later ones may not fit in a timestamptz */
#define LAST_SEARCH_YEAR 294275

#define BIT(n) (UINT64CONST(1) << (n))

/*
 * One field of the five: its name in messages, its range, and the names
 * that may stand for its values (the first name is the value min).
 */
typedef struct ScheduleField
{
	const char *name;
	int			min;
	int			max;
	const char *const *value_names;
	int			nvalue_names;
} ScheduleField;

static const char *const month_names[] = {
	"jan", "feb", "mar", "apr", "may", "jun",
	"jul", "aug", "sep", "oct", "nov", "dec"
};

static const char *const weekday_names[] = {
	"sun", "mon", "tue", "wed", "thu", "fri", "sat"
};

static const ScheduleField schedule_fields[SCHEDULE_FIELDS] = {
	{"minute", 0, 59, NULL, 0},
	{"hour", 0, 23, NULL, 0},
	{"day-of-month", 1, 31, NULL, 0},
	{"month", 1, 12, month_names, lengthof(month_names)},
	{"day-of-week", 0, 7, weekday_names, lengthof(weekday_names)},
};

/* the macros, each the five fields it stands for */
static const struct
{
	const char *name;
	const char *fields;
}			schedule_macros[] = {
	{"@yearly", "0 0 1 1 *"},
	{"@annually", "0 0 1 1 *"},
	{"@monthly", "0 0 1 * *"},
	{"@weekly", "0 0 * * 0"},
	{"@daily", "0 0 * * *"},
	{"@midnight", "0 0 * * *"},
	{"@hourly", "0 * * * *"},
};

/*
 * Length of the run of letters and digits at p: one value, name or step of
 * a field.  Non-ASCII bytes count as letters, so that a message quotes a
 * misspelt name whole and never cuts a multibyte character.
 */
static int
token_length(const char *p, const char *end)
{
	const char *q = p;

	while (q < end && ((*q >= '0' && *q <= '9') ||
					   (*q >= 'a' && *q <= 'z') ||
					   (*q >= 'A' && *q <= 'Z') ||
					   IS_HIGHBIT_SET(*q)))
		q++;
	return q - p;
}

/*
 * Read the decimal number spelled by the whole token, saturating far above
 * any valid value so that a long number is still reported as out of range.
 * Returns -1 when the token is not all digits.
 */
static int
token_number(const char *token, int len)
{
	int			value = 0;

	for (int i = 0; i < len; i++)
	{
		if (token[i] < '0' || token[i] > '9')
			return -1;
		if (value < 1000000)
			value = value * 10 + (token[i] - '0');
	}
	return value;
}

/*
 * Explain why a field has no token where one belongs, at p: either the
 * field ends there, or p holds an ASCII character the syntax has no place
 * for.
 */
static bool
bad_token(const ScheduleField *field, const char *start, const char *end,
		  const char *p, char **error_detail)
{
	if (p == end)
		*error_detail = psprintf("Field \"%s\" ends too early: \"%.*s\".",
								 field->name, (int) (end - start), start);
	else
		*error_detail = psprintf("Field \"%s\" has unexpected character \"%c\" in \"%.*s\".",
								 field->name, *p, (int) (end - start), start);
	return false;
}

/*
 * Parse one value (a number or a name) at *p, advancing *p past it.
 */
static bool
parse_value(const ScheduleField *field, const char *start, const char *end,
			const char **p, int *value, char **error_detail)
{
	const char *token = *p;
	int			len = token_length(token, end);

	if (len == 0)
		return bad_token(field, start, end, token, error_detail);
	*p += len;

	*value = token_number(token, len);
	if (*value >= 0)
	{
		if (*value < field->min || *value > field->max)
		{
			*error_detail = psprintf("Field \"%s\" has value %.*s, which is outside %d-%d.",
									 field->name, len, token,
									 field->min, field->max);
			return false;
		}
		return true;
	}

	for (int i = 0; i < field->nvalue_names; i++)
	{
		if (len == 3 && pg_strncasecmp(token, field->value_names[i], 3) == 0)
		{
			*value = field->min + i;
			return true;
		}
	}
	if (field->nvalue_names > 0)
		*error_detail = psprintf("Field \"%s\" has \"%.*s\", which is neither a number nor a name from %s to %s.",
								 field->name, len, token,
								 field->value_names[0],
								 field->value_names[field->nvalue_names - 1]);
	else
		*error_detail = psprintf("Field \"%s\" has \"%.*s\", which is not a number.",
								 field->name, len, token);
	return false;
}

/*
 * Parse the text of one field, start..end, into a bit set of its values.
 */
static bool
parse_field(const ScheduleField *field, const char *start, const char *end,
			uint64 *bits, char **error_detail)
{
	const char *p = start;

	*bits = 0;
	for (;;)
	{
		const char *element = p;
		int			low;
		int			high;
		int			step = 1;
		bool		ranged = true;	/* "*" or a range, which may take a step */

		if (p < end && *p == '*')
		{
			low = field->min;
			high = field->max;
			p++;
		}
		else
		{
			if (!parse_value(field, start, end, &p, &low, error_detail))
				return false;
			high = low;
			ranged = (p < end && *p == '-');
			if (ranged)
			{
				p++;
				if (!parse_value(field, start, end, &p, &high, error_detail))
					return false;
				if (low > high)
				{
					*error_detail = psprintf("Field \"%s\" has range \"%.*s\", whose start is after its end.",
											 field->name, (int) (p - element), element);
					return false;
				}
			}
		}

		if (p < end && *p == '/')
		{
			const char *token = ++p;
			int			len = token_length(token, end);

			if (!ranged)
			{
				*error_detail = psprintf("Field \"%s\" has a step after the single value in \"%.*s\"; a step needs \"*\" or a range before it.",
										 field->name, (int) (end - start), start);
				return false;
			}
			if (len == 0)
				return bad_token(field, start, end, token, error_detail);
			step = token_number(token, len);
			if (step < 1)
			{
				*error_detail = psprintf("Field \"%s\" has step \"%.*s\", which is not a positive number.",
										 field->name, len, token);
				return false;
			}
			p += len;
		}

		for (int v = low; v <= high; v += step)
			*bits |= BIT(v);

		if (p == end)
			return true;
		if (*p != ',')
			return bad_token(field, start, end, p, error_detail);
		p++;
	}
}

/*
 * Whether some chosen month has some chosen day of the month, in its
 * longest (leap year) form.
 */
static bool
days_exist(const ProtechBackupSchedule *schedule)
{
	for (int month = 1; month <= 12; month++)
	{
		/* bits 1 to the month's length in a leap year */
		uint64		month_days = BIT(day_tab[1][month - 1] + 1) - 2;

		if ((schedule->months & BIT(month)) &&
			(schedule->days_of_month & month_days))
			return true;
	}
	return false;
}

/*
 * Parse a schedule in cron syntax (see the file header).  On success fill
 * *result and return true; otherwise set *error_detail to a palloc'd
 * sentence saying which field is wrong and why, and return false.  Never
 * raises an error, so it can serve a GUC check hook.
 */
bool
protech_backup_parse_schedule(const char *text, ProtechBackupSchedule *result,
							  char **error_detail)
{
	const char *start[SCHEDULE_FIELDS];
	const char *end[SCHEDULE_FIELDS];
	uint64		bits[SCHEDULE_FIELDS];
	int			nfields = 0;
	const char *p = text;

	if (*text == '\0')
	{
		*error_detail = pstrdup("An empty schedule never fires.");
		return false;
	}

	while (scanner_isspace(*p))
		p++;
	if (*p == '@')
	{
		const char *macro_end = p + strlen(p);

		while (scanner_isspace(macro_end[-1]))
			macro_end--;
		for (int i = 0; i < lengthof(schedule_macros); i++)
		{
			if (strlen(schedule_macros[i].name) == macro_end - p &&
				pg_strncasecmp(p, schedule_macros[i].name, macro_end - p) == 0)
				return protech_backup_parse_schedule(schedule_macros[i].fields,
													 result, error_detail);
		}
		/* the list of macros in this message follows schedule_macros */
		*error_detail = psprintf("Macro \"%.*s\" is unknown; the macros are @yearly, @annually, @monthly, @weekly, @daily, @midnight and @hourly.",
								 (int) (macro_end - p), p);
		return false;
	}

	/* split into fields, counting all of them for the message */
	while (*p != '\0')
	{
		const char *field_start = p;

		while (*p != '\0' && !scanner_isspace(*p))
			p++;
		if (nfields < SCHEDULE_FIELDS)
		{
			start[nfields] = field_start;
			end[nfields] = p;
		}
		nfields++;
		while (scanner_isspace(*p))
			p++;
	}
	if (nfields != SCHEDULE_FIELDS)
	{
		*error_detail = psprintf("A schedule needs 5 fields (minute hour day-of-month month day-of-week), got %d.",
								 nfields);
		return false;
	}

	for (int i = 0; i < SCHEDULE_FIELDS; i++)
		if (!parse_field(&schedule_fields[i], start[i], end[i], &bits[i],
						 error_detail))
			return false;

	result->minutes = bits[0];
	result->hours = (uint32) bits[1];
	result->days_of_month = (uint32) bits[2];
	result->months = (uint16) bits[3];
	/* fold 7 onto 0: both are Sunday */
	result->days_of_week = (uint8) ((bits[4] | (bits[4] >> 7)) & 0x7F);
	result->dom_restricted = (*start[2] != '*');
	result->dow_restricted = (*start[4] != '*');

	/* the day-of-week alone always fires; otherwise the day must exist */
	if (result->dom_restricted && !result->dow_restricted && !days_exist(result))
	{
		*error_detail = pstrdup("The schedule never fires: none of the chosen months has any of the chosen days of the month.");
		return false;
	}
	return true;
}

/*
 * Whether a schedule fires on a local date, by cron's rule for combining
 * day-of-month and day-of-week (see the file header).
 */
static bool
day_matches(const ProtechBackupSchedule *schedule, int year, int month, int day)
{
	bool		dom = (schedule->days_of_month & BIT(day)) != 0;
	bool		dow = (schedule->days_of_week & BIT(j2day(date2j(year, month, day)))) != 0;

	if (schedule->dom_restricted && schedule->dow_restricted)
		return dom || dow;
	return dom && dow;
}

/*
 * The instant at which the local wall-clock time "wall" (seconds since
 * 1970-01-01 00:00 local) occurs in zone tz: its first occurrence when the
 * clocks fall back over it, or the first instant after the gap when they
 * jump forward over it.
 *
 * That is the first instant t whose local time t + offset(t) reaches wall.
 * No offset reaches a day, so the search starts a day early and walks the
 * zone's transitions: within each stretch of one offset the local time
 * grows with t, so the answer lies in the first stretch whose local time
 * reaches wall.
 */
static pg_time_t
local_to_utc(pg_time_t wall, const pg_tz *tz)
{
	pg_time_t	t = wall - SECS_PER_DAY;

	for (;;)
	{
		long int	gmtoff;
		long int	next_gmtoff;
		int			isdst;
		int			next_isdst;
		pg_time_t	boundary;
		pg_time_t	candidate;
		int			found;

		found = pg_next_dst_boundary(&t, &gmtoff, &isdst, &boundary,
									 &next_gmtoff, &next_isdst, tz);
		if (found < 0)
			elog(ERROR, "could not find the time zone transitions after " INT64_FORMAT, t);
		candidate = Max(t, wall - gmtoff);
		if (found == 0 || candidate < boundary)
			return candidate;
		t = boundary;
	}
}

/*
 * The first instant strictly after "after" at which the schedule fires,
 * with its times read as local times in zone tz (see the file header for
 * the day rule and daylight saving time).  Returns DT_NOEND when it does not
 * fire within SEARCH_YEARS years or before the end of the timestamp range,
 * and raises an error for an infinite "after".
 *
 * Candidates are walked in local time from the minute after the local time
 * of "after", skipping whole months, days and hours that cannot match.
 * The local-to-instant conversion never goes backwards, so the first
 * candidate past "after" is the answer; candidates at or before "after"
 * are the repeated hour when the clocks fell back, which fired already.
 */
TimestampTz
protech_backup_next_run(const ProtechBackupSchedule *schedule, pg_tz *tz,
						TimestampTz after)
{
	pg_time_t	after_secs;
	struct pg_tm *tm;
	int			year;
	int			month;
	int			day;
	int			hour;
	int			minute;
	int			last_year;

	if (TIMESTAMP_NOT_FINITE(after))
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("timestamp out of range")));

	/* the whole second at or before "after" (division truncates) */
	after_secs = after / USECS_PER_SEC - (after % USECS_PER_SEC < 0);
	after_secs += (pg_time_t) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * SECS_PER_DAY;
	tm = pg_localtime(&after_secs, tz);
	if (tm == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("timestamp out of range")));

	year = tm->tm_year + 1900;
	month = tm->tm_mon + 1;
	day = tm->tm_mday;
	hour = tm->tm_hour;
	minute = tm->tm_min + 1;	/* 60 moves on to the next hour below */
	last_year = Min(year + SEARCH_YEARS, LAST_SEARCH_YEAR);

	/* moving one loop on restarts every loop inside it */
	for (; year <= last_year; year++, month = 1, day = 1, hour = 0, minute = 0)
		for (; month <= 12; month++, day = 1, hour = 0, minute = 0)
		{
			if (!(schedule->months & BIT(month)))
				continue;
			for (; day <= day_tab[isleap(year)][month - 1]; day++, hour = 0, minute = 0)
			{
				if (!day_matches(schedule, year, month, day))
					continue;
				for (; hour < 24; hour++, minute = 0)
				{
					if (!(schedule->hours & BIT(hour)))
						continue;
					for (; minute < 60; minute++)
					{
						pg_time_t	wall;
						TimestampTz result;

						if (!(schedule->minutes & BIT(minute)))
							continue;
						wall = (pg_time_t) (date2j(year, month, day) - UNIX_EPOCH_JDATE) * SECS_PER_DAY +
							hour * SECS_PER_HOUR + minute * SECS_PER_MINUTE;
						result = time_t_to_timestamptz(local_to_utc(wall, tz));
						if (result > after)
							return result;
					}
				}
			}
		}
	return DT_NOEND;
}

/*
 * The zone PostgreSQL knows by this name, or NULL.
 */
pg_tz *
protech_backup_find_time_zone(const char *name)
{
	pg_tz	   *tz = pg_tzset(name);

	if (tz == NULL || !pg_tz_acceptable(tz))
		return NULL;
	return tz;
}
