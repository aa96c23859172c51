/*-------------------------------------------------------------------------
 * shmem.h
 *	  Shared state of uso_tasks: the launcher, one slot per scheduler
 *	  (database) and one slot per executor worker.
 *
 * All fields are protected by UsoShared->lock unless said otherwise.  The
 * scheduler is the only process that assigns work to an executor slot; the
 * executor is the only one that marks its slot idle again.
 *-------------------------------------------------------------------------
 */
#ifndef USO_SHMEM_H
#define USO_SHMEM_H

#include "datatype/timestamp.h"
#include "storage/condition_variable.h"
#include "storage/latch.h"
#include "storage/lwlock.h"

#define USO_MAX_DATABASES	64

/*
 * A run in another database than its scheduler's cannot read or write the
 * catalog, so the scheduler passes the task through the slot and records the
 * outcome the worker leaves there.  These bound what fits.
 */
#define USO_REMOTE_COMMAND_LEN	8192
#define USO_REMOTE_CONFIG_LEN	2048
#define USO_REMOTE_MESSAGE_LEN	1024

/*
 * Most login roles remembered per task owner that may act as it (members
 * that can SET ROLE to it): they share the owner's fair-share cap
 * (sched_pool.c).  More than this and the rest are not counted.
 */
#define USO_MAX_ACTORS	8

typedef enum UsoWorkerState
{
	USO_WORKER_FREE = 0,		/* slot unused */
	USO_WORKER_STARTING,		/* registered, process not attached yet */
	USO_WORKER_IDLE,			/* waiting for a run */
	USO_WORKER_BUSY,			/* running run_id */
	USO_WORKER_EXITING			/* retiring; takes no more work */
} UsoWorkerState;

/* How a run ended, as an executor reports it to its scheduler. */
typedef enum UsoRunOutcome
{
	USO_OUTCOME_NONE = 0,
	USO_OUTCOME_SUCCEEDED,
	USO_OUTCOME_FAILED,
	USO_OUTCOME_TIMED_OUT,
	USO_OUTCOME_CANCELLED
} UsoRunOutcome;

typedef struct UsoWorkerSlot
{
	UsoWorkerState state;
	Oid			dboid;			/* database the worker is connected to */
	Oid			roleid;			/* role it is connected as (the task owner) */
	Oid			sched_dboid;	/* database of the scheduler that owns it */
	pid_t		pid;
	Latch	   *latch;
	bool		connected;		/* connected to its database as its role */
	int64		run_id;			/* run assigned (0 = none) */
	bool		cancel_requested;	/* uso_cancel() asked to stop run_id */
	TimestampTz run_started;	/* when the worker began run_id */
	int			run_timeout_ms; /* its timeout, 0 = none */
	bool		timeout_killed; /* the scheduler terminated it past its timeout */
	int64		done_run_id;	/* last finished run, for the scheduler */
	UsoRunOutcome done_outcome;
	float4		progress;		/* live progress of run_id, -1 = none */
	uint32		generation;		/* bumped on every (re)use of the slot */
	int			n_actors;		/* other login roles that may act as roleid */
	Oid			actors[USO_MAX_ACTORS];

	/* Runs in another database (dboid != sched_dboid): the task ... */
	char		task_name[256];
	int			timeout_ms;
	char		config[USO_REMOTE_CONFIG_LEN];
	char		command[USO_REMOTE_COMMAND_LEN];
	/* ... and how it ended. */
	TimestampTz done_started;
	char		done_sqlstate[6];
	char		done_tag[64];
	char		done_message[USO_REMOTE_MESSAGE_LEN];
} UsoWorkerSlot;

/*
 * What a scheduler shows uso_scheduler_status (src/sched_status.c writes it
 * every loop, at least every USO_HEARTBEAT_MS; src/status.c reads it).
 */
#define USO_HEARTBEAT_MS	5000

typedef struct UsoSchedStatus
{
	pid_t		pid;			/* the scheduler that wrote it */
	TimestampTz started_at;
	TimestampTz heartbeat;		/* last time round the loop */
	TimestampTz next_wakeup;	/* 0 = none */
	int			tasks_loaded;
	int			runs_queued;
	int			runs_running;
} UsoSchedStatus;

typedef struct UsoSchedulerSlot
{
	Oid			dboid;			/* InvalidOid = unused */
	pid_t		pid;			/* 0 while not running */
	Latch	   *latch;
	bool		catalog_changed;	/* reload tasks on next wake */
	bool		roles_changed;	/* and retire idle workers: rights changed */
	bool		runs_queued;	/* look for queued runs on next wake */
	bool		chains_pending; /* uso_chain_pending has entries (96_chains.sql) */
	bool		stop_requested; /* extension dropped: exit */
	bool		reboot_done;	/* @reboot tasks ran since the postmaster started */
	int			runs_waiting;	/* ready runs its last dispatch could not place */
	bool		workers_starved;	/* its last dispatch could not start an
									 * executor: no background worker slot
									 * free (max_worker_processes) */
	UsoSchedStatus status;		/* valid while status.pid == pid */
} UsoSchedulerSlot;

/*
 * Why a scheduler exited on purpose, for the launcher, which owns the
 * restart policy (schedulers are never restarted by the postmaster).  A
 * scheduler that leaves no note died (terminated, FATAL on connect, crash).
 */
typedef enum UsoSchedExitReason
{
	USO_SCHED_EXIT_NONE = 0,
	USO_SCHED_EXIT_UNWANTED,	/* no extension, template, stop requested */
	USO_SCHED_EXIT_NO_SLOT,		/* all USO_MAX_DATABASES slots taken */
	USO_SCHED_EXIT_DUPLICATE	/* another scheduler runs this database */
} UsoSchedExitReason;

typedef struct UsoSchedExitNote
{
	Oid			dboid;			/* InvalidOid = unused */
	UsoSchedExitReason reason;
} UsoSchedExitNote;

typedef struct UsoSharedState
{
	LWLock	   *lock;
	Latch	   *launcher_latch;
	pid_t		launcher_pid;
	Oid			start_requests[USO_MAX_DATABASES];	/* databases to (re)start */
	int			n_start_requests;
	/*
	 * Starts the launcher has in hand (taken from start_requests, due, or
	 * registered with the scheduler not in its slot yet), so that status
	 * says "starting" for them, not "stopped"; only the launcher writes it.
	 */
	Oid			launching[USO_MAX_DATABASES];
	int			n_launching;
	ConditionVariable run_finished; /* broadcast when any run ends */
	UsoSchedulerSlot schedulers[USO_MAX_DATABASES];
	UsoSchedExitNote exit_notes[USO_MAX_DATABASES];	/* scheduler -> launcher */
	int			max_workers;
	UsoWorkerSlot workers[FLEXIBLE_ARRAY_MEMBER];
} UsoSharedState;

extern UsoSharedState *UsoShared;

extern void UsoShmemInit(void);
extern void UsoShmemAttach(void);

/* Scheduler slot of a database, or NULL; caller holds the lock. */
extern UsoSchedulerSlot *UsoFindScheduler(Oid dboid);

/* Latch of a database's scheduler, or NULL; caller holds the lock. */
extern Latch *UsoSchedulerLatch(Oid dboid);

/* Wake the scheduler of a database (flags set under the lock). */
extern void UsoWakeScheduler(Oid dboid, bool catalog_changed, bool runs_queued);

/* Ask the launcher to start the scheduler of a database. */
extern void UsoRequestSchedulerStart(Oid dboid);

/* A scheduler leaves a note saying why it exits; the launcher takes it. */
extern void UsoNoteSchedulerExit(Oid dboid, UsoSchedExitReason reason);
extern UsoSchedExitReason UsoTakeSchedulerExit(Oid dboid);

/* Give back the slot of a database whose scheduler is gone for good. */
extern void UsoFreeSchedulerSlot(Oid dboid);

/* Ask the scheduler of a database to exit (extension or database dropped). */
extern void UsoRequestSchedulerStop(Oid dboid, bool terminate_workers);

/*
 * Deferred wake-ups: recorded during a transaction, delivered at commit so
 * the scheduler sees the committed rows (a wake before commit is a lost one).
 */
extern void UsoWakeAtCommit(bool catalog_changed, bool runs_queued);
/* At commit: followers' runs wait in uso_chain_pending for the scheduler. */
/* At commit, every database's scheduler reloads its tasks (roles changed). */
extern void UsoWakeAllAtCommit(void);
extern void UsoChainsPendingAtCommit(void);
extern void UsoStartAtCommit(void);
/* This transaction asks for its database's scheduler when it commits. */
extern bool UsoStartPendingAtCommit(void);

#endif							/* USO_SHMEM_H */
