/*-------------------------------------------------------------------------
 *
 * encrypt.c
 *		Encrypted backups: the stream stage that encrypts what flows
 *		through it with age, the reader that decrypts a stored file with
 *		age for a restore, and the check that a restore has the identity
 *		(private key) it needs.  Built on stream.c (the stage and the
 *		reader), child.c (age runs as a child), settings.c (the
 *		recipients and the identity file) and storage.c (encrypted names).
 *
 * No cryptography is done here: age (age-encryption.org/v1, the Debian
 * package "age") does it, run by the child runner with an argument
 * vector like every other program, as a filter alongside the backup:
 *
 *	pg_dump's output -> [zstd] -> encrypt: age -e -r KEY... -> hash -> progress -> file
 *
 * so that only age's output reaches the disk, and the size and SHA-256 the
 * manifest records are those of the encrypted file: a checksum
 * verification and a download need no key.  A restore reads the file
 * through "age -d -i <protech_backup.encryption_identity_file> FILE",
 * decompressing what age prints, into psql or pg_restore (restore.c);
 * every file of a backup a restore reads (the dump, its globals, its
 * database-level properties) is opened by protech_backup_stored_reader,
 * so an encrypted one is always read through age.
 * age authenticates what it decrypts, chunk by chunk: a wrong key, or a
 * file altered since, makes it fail, and the restore with it.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <unistd.h>

#include "utils/builtins.h"

#include "child.h"
#include "encrypt.h"
#include "settings.h"
#include "storage.h"

/* where age is looked for, as the environment of children has it */
#define AGE_SEARCH_PATH "/usr/local/bin:/usr/bin:/bin"
#define AGE_FAILURE_LINES 5

typedef struct EncryptStage
{
	ProtechBackupStream stage;
	ProtechBackupChild *age;
} EncryptStage;

/*
 * The decrypting source of a reader: age -d on the file.
 */
typedef struct DecryptSource
{
	const char *path;
	ProtechBackupChild *age;	/* NULL once finished */
} DecryptSource;

/*
 * The path of the age program, found in AGE_SEARCH_PATH; raises
 * undefined_file when it is not installed.
 */
static char *
age_path(void)
{
	char	   *dirs = pstrdup(AGE_SEARCH_PATH);
	char	   *save;

	for (char *dir = strtok_r(dirs, ":", &save); dir;
		 dir = strtok_r(NULL, ":", &save))
	{
		char	   *path = psprintf("%s/age", dir);

		if (access(path, X_OK) == 0)
			return path;
	}
	ereport(ERROR,
			(errcode(ERRCODE_UNDEFINED_FILE),
			 errmsg("age is not installed"),
			 errdetail("protech_backup encrypts and decrypts backups with the age program, looked for in %s.",
					   AGE_SEARCH_PATH),
			 errhint("Install it (the Debian package \"age\"), or set protech_backup.encryption_recipients to an empty string.")));
	return NULL;				/* keep the compiler quiet */
}

/*
 * Raise external_routine_exception for an age that failed (wait status
 * status, having printed output) while doing what, on file path.
 */
static void
report_age_failure(const char *what, const char *path, int status,
				   StringInfo output, const char *hint)
{
	ereport(ERROR,
			(errcode(ERRCODE_EXTERNAL_ROUTINE_EXCEPTION),
			 errmsg("could not %s file \"%s\" with age: %s", what, path,
					wait_result_to_str(status)),
			 errdetail("age printed:\n%s", output->len > 0 ?
					   protech_backup_last_lines(output, AGE_FAILURE_LINES) :
					   "nothing"),
			 hint ? errhint("%s", hint) : 0));
}

static void
encrypt_write(ProtechBackupStream *stage, const char *data, size_t len)
{
	EncryptStage *encrypt = (EncryptStage *) stage;

	protech_backup_child_write(encrypt->age, data, len,
							   protech_backup_stream_sink, stage->next);
}

static void
encrypt_finish(ProtechBackupStream *stage)
{
	EncryptStage *encrypt = (EncryptStage *) stage;
	StringInfoData output;
	int			status;

	initStringInfo(&output);
	status = protech_backup_child_finish(encrypt->age,
										 protech_backup_stream_sink,
										 stage->next, &output);
	encrypt->age = NULL;
	if (status != 0)
		report_age_failure("encrypt", "(the backup stream)", status, &output,
						   NULL);
	protech_backup_stream_finish(stage->next);
}

/*
 * A stage that encrypts what flows through it to recipients (at least
 * one), with an age child started now ("age -e -r KEY ..."), passing the
 * encrypted bytes to next.  Killed with the transaction when an error
 * ends the stream; protech_backup.timeout limits it as it does pg_dump.
 */
ProtechBackupStream *
protech_backup_stream_encrypt(const ProtechBackupRecipients *recipients,
							  ProtechBackupStream *next)
{
	EncryptStage *encrypt = protech_backup_stream_new_stage(sizeof(EncryptStage),
															encrypt_write,
															encrypt_finish,
															next);
	const char **argv = palloc((2 * recipients->count + 3) * sizeof(char *));
	int			argc = 0;
	const char *none[] = {NULL};

	argv[argc++] = age_path();
	argv[argc++] = "--encrypt";
	for (int i = 0; i < recipients->count; i++)
	{
		argv[argc++] = "-r";
		argv[argc++] = recipients->keys[i];
	}
	argv[argc] = NULL;
	encrypt->age = protech_backup_start_child("age", argv,
											  protech_backup_child_environment(none),
											  true, protech_backup_timeout);
	return &encrypt->stage;
}

/*
 * Raise an error, before anything is done, when the encrypted backup
 * file_name cannot be decrypted here: protech_backup.encryption_identity_file
 * is empty (invalid_parameter_value), or names a file the server cannot
 * read.
 */
void
protech_backup_require_identity(const char *file_name)
{
	const char *identity = protech_backup_encryption_identity_file;

	if (identity[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("backup \"%s\" is encrypted and protech_backup.encryption_identity_file is not set",
						file_name),
				 errdetail("Restoring an encrypted backup needs the age identity (private key) of one of the recipients its manifest records."),
				 errhint("Set protech_backup.encryption_identity_file to the path of that identity file and reload the configuration, or restore by hand with age -d.")));
	if (access(identity, R_OK) != 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not read protech_backup.encryption_identity_file \"%s\": %m",
						identity),
				 errdetail("Restoring the encrypted backup \"%s\" needs it.",
						   file_name),
				 errhint("Make it readable by the server's operating system user, or set the setting to another identity file.")));
}

/*
 * The raw source of a decrypting reader: what age prints; at its end, age
 * must have succeeded.
 */
static ssize_t
decrypt_read(char *buf, size_t size, void *arg)
{
	DecryptSource *source = (DecryptSource *) arg;
	StringInfoData output;
	ssize_t		n;
	int			status;

	if (source->age == NULL)
		return 0;
	n = protech_backup_child_read(source->age, buf, size);
	if (n > 0)
		return n;
	initStringInfo(&output);
	status = protech_backup_child_finish(source->age, NULL, NULL, &output);
	source->age = NULL;
	if (status != 0)
		report_age_failure("decrypt", source->path, status, &output,
						   "protech_backup.encryption_identity_file must hold the private key of one of the recipients the backup's manifest records.");
	return 0;
}

/*
 * Closing a decrypting reader: an age that has not finished (the program
 * reading stopped early) is killed.
 */
static void
decrypt_close(void *arg)
{
	DecryptSource *source = (DecryptSource *) arg;

	if (source->age != NULL)
		protech_backup_child_kill(source->age);
	source->age = NULL;
}

/*
 * A reader of the encrypted file at path, decrypted by an age child
 * ("age -d -i <protech_backup.encryption_identity_file> path") and
 * decompressed with method.  The identity is checked first
 * (protech_backup_require_identity).  Reading raises an error when age
 * fails (a wrong identity, a damaged file).
 */
ProtechBackupStreamReader *
protech_backup_decrypting_reader(const char *path, ProtechBackupMethod method)
{
	DecryptSource *source = palloc0(sizeof(DecryptSource));
	const char *none[] = {NULL};
	const char *argv[] = {age_path(), "--decrypt", "-i",
		protech_backup_encryption_identity_file, "--", path, NULL};

	protech_backup_require_identity(last_dir_separator(path) ?
									last_dir_separator(path) + 1 : path);
	source->path = path;
	source->age = protech_backup_start_child("age", argv,
											 protech_backup_child_environment(none),
											 false, protech_backup_timeout);
	return protech_backup_stream_reader_of(path, decrypt_read, decrypt_close,
										   source, method);
}

/*
 * A reader of the stored file of a backup at path, decompressed with
 * method: decrypted through age (protech_backup_decrypting_reader, which
 * needs the identity) when its name ends in ".age", read as it is
 * otherwise (not following a symbolic link).  What a restore reads every
 * file of a backup with.
 */
ProtechBackupStreamReader *
protech_backup_stored_reader(const char *path, ProtechBackupMethod method)
{
	if (protech_backup_is_encrypted_name(path))
		return protech_backup_decrypting_reader(path, method);
	return protech_backup_stream_reader(path, method);
}
