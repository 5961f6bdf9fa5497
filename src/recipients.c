/*-------------------------------------------------------------------------
 *
 * recipients.c
 *		The parser of protech_backup.encryption_recipients: empty (no
 *		encryption), one or more age public keys separated by commas, or
 *		"@" and the absolute path of an age recipients file, read once when
 *		the setting is loaded.  Built on durable.c (the file is opened
 *		without following a symbolic link).
 *
 * A key is an age X25519 recipient as age-keygen prints it: "age1" and 58
 * characters of the bech32 alphabet (32 bytes of key and a 6-character
 * checksum, BIP 173), checked here so that a mistyped key is refused when
 * the setting is made rather than when the first backup runs.  A
 * recipients file holds one key per line; blank lines and lines starting
 * with "#" are ignored, as age -R ignores them.  Other kinds of age
 * recipients (ssh keys, plugins) are refused: the manifest records the
 * keys a backup is encrypted to, and those are the ones this checks.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <fcntl.h>
#include <unistd.h>

#include "lib/stringinfo.h"
#include "storage/fd.h"

#include "durable.h"
#include "recipients.h"

#define AGE_RECIPIENT_PREFIX "age1"
#define AGE_RECIPIENT_LENGTH (PROTECH_BACKUP_RECIPIENT_SIZE - 1)
#define BECH32_ALPHABET "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
/* a recipients file larger than this is not one */
#define RECIPIENTS_FILE_MAX 65536

/*
 * The BIP 173 checksum of a bech32 string with human-readable part "age":
 * whether data (the characters after "age1") checks.
 */
static bool
bech32_checks(const char *data)
{
	static const uint32 generator[] = {0x3b6a57b2, 0x26508e6d, 0x1ea119fa,
	0x3d4233dd, 0x2a1462b3};
	const char *hrp = "age";
	uint32		chk = 1;
	int			values[64];
	int			n = 0;

	for (const char *c = hrp; *c; c++)
		values[n++] = *c >> 5;
	values[n++] = 0;
	for (const char *c = hrp; *c; c++)
		values[n++] = *c & 31;
	for (const char *c = data; *c; c++)
		values[n++] = strchr(BECH32_ALPHABET, *c) - BECH32_ALPHABET;
	for (int i = 0; i < n; i++)
	{
		uint32		top = chk >> 25;

		chk = ((chk & 0x1ffffff) << 5) ^ values[i];
		for (int g = 0; g < 5; g++)
			if ((top >> g) & 1)
				chk ^= generator[g];
	}
	return chk == 1;
}

/*
 * Whether key has the shape of an age X25519 recipient: "age1" and 58
 * characters of the bech32 alphabet.
 */
static bool
has_recipient_shape(const char *key)
{
	size_t		prefix = strlen(AGE_RECIPIENT_PREFIX);

	return strlen(key) == AGE_RECIPIENT_LENGTH &&
		strncmp(key, AGE_RECIPIENT_PREFIX, prefix) == 0 &&
		strspn(key + prefix, BECH32_ALPHABET) == AGE_RECIPIENT_LENGTH - prefix;
}

/*
 * Whether key is an age X25519 recipient, its checksum included (for the
 * keys a manifest records).
 */
bool
protech_backup_is_age_recipient(const char *key)
{
	return has_recipient_shape(key) &&
		bech32_checks(key + strlen(AGE_RECIPIENT_PREFIX));
}

/*
 * Add the key of len bytes at key to result, or return false with *detail
 * set when it is not an age X25519 recipient (where names where it came
 * from, for the message).
 */
static bool
add_key(const char *key, size_t len, const char *where,
		ProtechBackupRecipients *result, char **detail)
{
	char	   *copy = pnstrdup(key, len);

	if (!has_recipient_shape(copy))
	{
		*detail = psprintf("%s\"%s\" is not an age public key: one is \"age1\" followed by 58 lowercase letters and digits, as age-keygen prints it.",
						   where, copy);
		return false;
	}
	if (!bech32_checks(copy + strlen(AGE_RECIPIENT_PREFIX)))
	{
		*detail = psprintf("%sThe checksum of the age public key \"%s\" does not match: it was mistyped or truncated.",
						   where, copy);
		return false;
	}
	if (result->count == PROTECH_BACKUP_MAX_RECIPIENTS)
	{
		*detail = psprintf("%sAt most %d recipients may be given.", where,
						   PROTECH_BACKUP_MAX_RECIPIENTS);
		return false;
	}
	strlcpy(result->keys[result->count++], copy, PROTECH_BACKUP_RECIPIENT_SIZE);
	return true;
}

/*
 * Read the recipients file at path into result, one key a line.
 */
static bool
read_recipients_file(const char *path, ProtechBackupRecipients *result,
					 char **detail)
{
	char	   *problem;
	int			fd;
	char	   *buf;
	ssize_t		len;
	char	   *line;
	int			lineno = 0;

	if (!is_absolute_path(path))
	{
		*detail = psprintf("The recipients file path \"%s\" is not absolute.", path);
		return false;
	}
	fd = protech_backup_open_nofollow(path, O_RDONLY, 0, &problem);
	if (fd < 0)
	{
		*detail = psprintf("Could not open the recipients file: %s.", problem);
		return false;
	}
	buf = palloc(RECIPIENTS_FILE_MAX + 1);
	len = read(fd, buf, RECIPIENTS_FILE_MAX + 1);
	CloseTransientFile(fd);
	if (len < 0 || len > RECIPIENTS_FILE_MAX)
	{
		*detail = len < 0 ?
			psprintf("Could not read the recipients file \"%s\": %m.", path) :
			psprintf("The recipients file \"%s\" is larger than %d bytes.",
					 path, RECIPIENTS_FILE_MAX);
		return false;
	}
	buf[len] = '\0';
	for (line = buf; line != NULL && *line != '\0';)
	{
		char	   *end = strchr(line, '\n');
		char	   *next = end ? end + 1 : NULL;
		size_t		n = end ? end - line : strlen(line);

		lineno++;
		while (n > 0 && (line[n - 1] == '\r' || line[n - 1] == ' ' ||
						 line[n - 1] == '\t'))
			n--;
		while (n > 0 && (*line == ' ' || *line == '\t'))
			line++, n--;
		if (n > 0 && *line != '#' &&
			!add_key(line, n, psprintf("Line %d of the recipients file \"%s\": ",
									   lineno, path), result, detail))
			return false;
		line = next;
	}
	if (result->count == 0)
	{
		*detail = psprintf("The recipients file \"%s\" holds no age public key.",
						   path);
		return false;
	}
	return true;
}

/*
 * Parse a value of protech_backup.encryption_recipients into *result
 * (count 0 for the empty value): keys separated by commas (spaces around
 * them ignored), or "@" and a recipients file.  Returns false with
 * *detail set to a palloc'd sentence when it is not valid.
 */
bool
protech_backup_parse_recipients(const char *value,
								ProtechBackupRecipients *result, char **detail)
{
	const char *p = value;

	memset(result, 0, sizeof(*result));
	while (*p == ' ')
		p++;
	if (*p == '\0')
		return true;
	if (*p == '@')
		return read_recipients_file(p + 1, result, detail);
	for (;;)
	{
		const char *comma = strchr(p, ',');
		size_t		n = comma ? comma - p : strlen(p);

		while (n > 0 && p[n - 1] == ' ')
			n--;
		if (!add_key(p, n, "", result, detail))
			return false;
		if (comma == NULL)
			return true;
		p = comma + 1;
		while (*p == ' ')
			p++;
	}
}
