// SPDX-License-Identifier: GPL-2.0
/*
 * zones.c: a miniature of illumos zones and zone-specific data (ZSD), enough
 * to reproduce OS-7410 (vmm_zsd assert tripped on zone shutdown) on Linux.
 *
 * Zones are created, booted, halted and destroyed by writing to /proc/zones
 * (one command per write: "create NAME", "boot NAME", "halt NAME",
 * "wait NAME", "destroy NAME"); reading it lists them. A halt returns at once
 * and proceeds on a work item, like zoneadmd:
 *
 *   RUNNING -> SHUTTING_DOWN -> (kill_ms) -> EMPTY, ZSD shutdown callbacks
 *     -> (drain_ms: kernel threads draining) -> DOWN
 *     -> zone_destroy(): DYING -> DEAD, ZSD destroy callbacks
 *
 * The drain is the OS-7410 window: a vmm load that lands in it gives the zone
 * a create callback and no shutdown. drain_permille makes the race rare
 * without narrowing the window in time: a halt drains (opens the window) with
 * that probability per mille, else goes from EMPTY straight to DOWN. The hit
 * rate then follows the dice, not the machine's speed, as long as drain_ms is
 * longer than the reload cycle (a window that opens is then nearly always hit).
 * drain_windows counts the windows opened.
 *
 * "wait NAME" blocks until the halt is over (destroy callbacks done);
 * "destroy NAME" then frees the dead zone.
 *
 * zone_key_create() follows illumos' rule, the root of OS-7410: a key created
 * while zones exist gets a create callback for every zone except those at
 * ZONE_IS_DOWN or later (or uninitialized), so a zone at SHUTTING_DOWN or
 * EMPTY whose shutdown callbacks already ran gets a create but no shutdown.
 *
 * The function names mirror uts/common/os/zone.c so that a stack trace reads
 * like the illumos one in the OS-7410 ticket.
 */
#include <linux/module.h>
#include <linux/proc_fs.h>
#include <linux/seq_file.h>
#include <linux/mutex.h>
#include <linux/slab.h>
#include <linux/list.h>
#include <linux/workqueue.h>
#include <linux/wait.h>
#include <linux/delay.h>
#include <linux/refcount.h>
#include <linux/uaccess.h>
#include <linux/string.h>
#include <linux/random.h>

#include "zones.h"

static unsigned int drain_ms = 300;
module_param(drain_ms, uint, 0644);
MODULE_PARM_DESC(drain_ms, "ms a halting zone spends between EMPTY and DOWN (kernel threads draining)");

static unsigned int drain_permille = 1000;
module_param(drain_permille, uint, 0644);
MODULE_PARM_DESC(drain_permille, "per mille of halts that drain for drain_ms (open the OS-7410 window); the others skip the drain (default 1000: every halt)");

static unsigned int kill_ms;
module_param(kill_ms, uint, 0644);
MODULE_PARM_DESC(kill_ms, "ms a halting zone spends in SHUTTING_DOWN before EMPTY (killall)");

static bool verbose = true;
module_param(verbose, bool, 0644);
MODULE_PARM_DESC(verbose, "log every zone state change and key create/delete on the console");

/*
 * Destroy callbacks that ran on data whose shutdown callback never did: the
 * OS-7410 window was hit. The debug vmm panics there; the fixed one counts.
 */
static unsigned int destroy_without_shutdown;
module_param(destroy_without_shutdown, uint, 0444);
MODULE_PARM_DESC(destroy_without_shutdown, "destroy callbacks run without a shutdown before (OS-7410 window hits)");

/* Halts that drained for drain_ms: OS-7410 windows opened (see drain_permille). */
static unsigned int drain_windows;
module_param(drain_windows, uint, 0444);
MODULE_PARM_DESC(drain_windows, "halts that drained for drain_ms (OS-7410 windows opened)");
static DEFINE_SPINLOCK(zsd_stats_lock);

/* A frame that stays in stack traces, named as in illumos (no inlining, no clones). */
#define ZSD_FRAME	noinline __attribute__((__noipa__))

#define ZSD_MAX_KEYS	16
#define ZSD_MAX_ZONES	64

/* zsd_entry flags, as in illumos. */
#define ZSD_CREATE_NEEDED	0x0001
#define ZSD_CREATE_INPROGRESS	0x0002
#define ZSD_CREATE_COMPLETED	0x0004
#define ZSD_SHUTDOWN_NEEDED	0x0010
#define ZSD_SHUTDOWN_INPROGRESS	0x0020
#define ZSD_SHUTDOWN_COMPLETED	0x0040
#define ZSD_DESTROY_NEEDED	0x0100
#define ZSD_DESTROY_INPROGRESS	0x0200
#define ZSD_DESTROY_COMPLETED	0x0400
#define ZSD_CREATE_ALL	  (ZSD_CREATE_NEEDED | ZSD_CREATE_INPROGRESS | ZSD_CREATE_COMPLETED)
#define ZSD_SHUTDOWN_ALL  (ZSD_SHUTDOWN_NEEDED | ZSD_SHUTDOWN_INPROGRESS | ZSD_SHUTDOWN_COMPLETED)
#define ZSD_DESTROY_ALL	  (ZSD_DESTROY_NEEDED | ZSD_DESTROY_INPROGRESS | ZSD_DESTROY_COMPLETED)
#define ZSD_ALL_INPROGRESS \
	(ZSD_CREATE_INPROGRESS | ZSD_SHUTDOWN_INPROGRESS | ZSD_DESTROY_INPROGRESS)

enum zsd_callback_type { ZSD_CREATE, ZSD_SHUTDOWN, ZSD_DESTROY };

/* One key's data in one zone (or, on zsd_registered_keys, the key itself). */
struct zsd_entry {
	zone_key_t zsd_key;
	void *zsd_data;
	void *(*zsd_create)(zoneid_t);
	void (*zsd_shutdown)(zoneid_t, void *);
	void (*zsd_destroy)(zoneid_t, void *);
	struct list_head zsd_linkage;
	u16 zsd_flags;
};

struct izone {
	zoneid_t zone_id;
	char zone_name[32];
	struct mutex zone_lock;		/* zone_status, zone_zsd, zone_zsd_gen */
	zone_status_t zone_status;
	struct list_head zone_zsd;	/* struct zsd_entry */
	unsigned long zone_zsd_gen;	/* bumped at every zsd flag change */
	bool zone_halted;		/* the halt sequence is over */
	wait_queue_head_t zone_cv;	/* status, flags and zone_halted changes */
	struct list_head zone_linkage;	/* zone_active, under zonehash_lock */
	refcount_t zone_ref;
	struct work_struct zone_halt_work;
};

static DEFINE_MUTEX(zonehash_lock);	/* zone_active, zsd_registered_keys */
static LIST_HEAD(zone_active);
static LIST_HEAD(zsd_registered_keys);
static zone_key_t zsd_keyval;
static zoneid_t zone_next_id = 1;
static struct workqueue_struct *zoneadmd_wq;

static const char *const zone_status_names[] = {
	[ZONE_IS_UNINITIALIZED] = "uninitialized",
	[ZONE_IS_INITIALIZED] = "initialized",
	[ZONE_IS_READY] = "ready",
	[ZONE_IS_BOOTING] = "booting",
	[ZONE_IS_RUNNING] = "running",
	[ZONE_IS_SHUTTING_DOWN] = "shutting_down",
	[ZONE_IS_EMPTY] = "empty",
	[ZONE_IS_DOWN] = "down",
	[ZONE_IS_DYING] = "dying",
	[ZONE_IS_DEAD] = "dead",
};

/* ---- zones: lookup, references, status --------------------------------- */

static void zone_free(zone_t *zone)
{
	struct zsd_entry *t, *next;

	list_for_each_entry_safe(t, next, &zone->zone_zsd, zsd_linkage) {
		list_del(&t->zsd_linkage);
		kfree(t);
	}
	kfree(zone);
}

void zone_rele(zone_t *zone)
{
	if (refcount_dec_and_test(&zone->zone_ref))
		zone_free(zone);
}
EXPORT_SYMBOL_GPL(zone_rele);

static zone_t *zone_find_all_by_id(zoneid_t id)	/* zonehash_lock held */
{
	zone_t *zone;

	list_for_each_entry(zone, &zone_active, zone_linkage)
		if (zone->zone_id == id)
			return zone;
	return NULL;
}

static zone_t *zone_find_all_by_name(const char *name)	/* zonehash_lock held */
{
	zone_t *zone;

	list_for_each_entry(zone, &zone_active, zone_linkage)
		if (strcmp(zone->zone_name, name) == 0)
			return zone;
	return NULL;
}

zone_t *zone_find_by_id(zoneid_t id)
{
	zone_t *zone;

	mutex_lock(&zonehash_lock);
	zone = zone_find_all_by_id(id);
	if (zone)
		refcount_inc(&zone->zone_ref);
	mutex_unlock(&zonehash_lock);
	return zone;
}
EXPORT_SYMBOL_GPL(zone_find_by_id);

zone_status_t zone_status_get(zone_t *zone)
{
	return READ_ONCE(zone->zone_status);
}
EXPORT_SYMBOL_GPL(zone_status_get);

static void zone_status_set(zone_t *zone, zone_status_t status)
{
	mutex_lock(&zone->zone_lock);
	WRITE_ONCE(zone->zone_status, status);
	mutex_unlock(&zone->zone_lock);
	wake_up_all(&zone->zone_cv);
	if (verbose)
		pr_info("zones: zone %d (%s) is %s\n", zone->zone_id,
			zone->zone_name, zone_status_names[status]);
}

/* ---- ZSD: applying callbacks --------------------------------------------- */

static struct zsd_entry *zsd_find(struct list_head *l, zone_key_t key)
{
	struct zsd_entry *t;

	list_for_each_entry(t, l, zsd_linkage)
		if (t->zsd_key == key)
			return t;
	return NULL;
}

static void zsd_changed(zone_t *zone)	/* zone_lock held */
{
	zone->zone_zsd_gen++;
	wake_up_all(&zone->zone_cv);
}

/*
 * Finds the key's entry once none of the `busy` flags is set on it, waiting
 * for other threads' callbacks. Called with zone_lock held; drops and
 * retakes it while waiting.
 */
static struct zsd_entry *zsd_wait_idle(zone_t *zone, zone_key_t key, u16 busy)
{
	struct zsd_entry *t;
	unsigned long gen;

	for (;;) {
		t = zsd_find(&zone->zone_zsd, key);
		if (!t || !(t->zsd_flags & busy))
			return t;
		gen = zone->zone_zsd_gen;
		mutex_unlock(&zone->zone_lock);
		wait_event(zone->zone_cv, READ_ONCE(zone->zone_zsd_gen) != gen);
		mutex_lock(&zone->zone_lock);
	}
}

static ZSD_FRAME void zsd_apply_create(zone_t *zone, zone_key_t key)
{
	struct zsd_entry *t;
	void *data;

	mutex_lock(&zone->zone_lock);
	t = zsd_wait_idle(zone, key, ZSD_ALL_INPROGRESS);
	if (!t || !(t->zsd_flags & ZSD_CREATE_NEEDED)) {
		mutex_unlock(&zone->zone_lock);
		return;
	}
	t->zsd_flags &= ~ZSD_CREATE_NEEDED;
	t->zsd_flags |= ZSD_CREATE_INPROGRESS;
	zsd_changed(zone);
	mutex_unlock(&zone->zone_lock);

	data = t->zsd_create(zone->zone_id);

	mutex_lock(&zone->zone_lock);
	t->zsd_data = data;
	t->zsd_flags &= ~ZSD_CREATE_INPROGRESS;
	t->zsd_flags |= ZSD_CREATE_COMPLETED;
	zsd_changed(zone);
	mutex_unlock(&zone->zone_lock);
}

static ZSD_FRAME void zsd_apply_shutdown(zone_t *zone, zone_key_t key)
{
	struct zsd_entry *t;

	mutex_lock(&zone->zone_lock);
	/* Wait for the creator first (illumos' zsd_wait_for_creator). */
	t = zsd_wait_idle(zone, key, ZSD_ALL_INPROGRESS | ZSD_CREATE_NEEDED);
	if (!t || !(t->zsd_flags & ZSD_SHUTDOWN_NEEDED)) {
		mutex_unlock(&zone->zone_lock);
		return;
	}
	t->zsd_flags &= ~ZSD_SHUTDOWN_NEEDED;
	t->zsd_flags |= ZSD_SHUTDOWN_INPROGRESS;
	zsd_changed(zone);
	mutex_unlock(&zone->zone_lock);

	t->zsd_shutdown(zone->zone_id, t->zsd_data);

	mutex_lock(&zone->zone_lock);
	t->zsd_flags &= ~ZSD_SHUTDOWN_INPROGRESS;
	t->zsd_flags |= ZSD_SHUTDOWN_COMPLETED;
	zsd_changed(zone);
	mutex_unlock(&zone->zone_lock);
}

static ZSD_FRAME void zsd_apply_destroy(zone_t *zone, zone_key_t key)
{
	struct zsd_entry *t;

	mutex_lock(&zone->zone_lock);
	t = zsd_wait_idle(zone, key, ZSD_ALL_INPROGRESS | ZSD_CREATE_NEEDED |
			  ZSD_SHUTDOWN_NEEDED);
	if (!t || !(t->zsd_flags & ZSD_DESTROY_NEEDED)) {
		mutex_unlock(&zone->zone_lock);
		return;
	}
	t->zsd_flags &= ~ZSD_DESTROY_NEEDED;
	t->zsd_flags |= ZSD_DESTROY_INPROGRESS;
	zsd_changed(zone);
	if (t->zsd_shutdown && !(t->zsd_flags & ZSD_SHUTDOWN_COMPLETED)) {
		spin_lock(&zsd_stats_lock);
		destroy_without_shutdown++;
		spin_unlock(&zsd_stats_lock);
		pr_info("zones: zone %d (%s) key %u: destroy without shutdown\n",
			zone->zone_id, zone->zone_name, key);
	}
	mutex_unlock(&zone->zone_lock);

	t->zsd_destroy(zone->zone_id, t->zsd_data);

	mutex_lock(&zone->zone_lock);
	t->zsd_data = NULL;
	t->zsd_flags &= ~ZSD_DESTROY_INPROGRESS;
	t->zsd_flags |= ZSD_DESTROY_COMPLETED;
	zsd_changed(zone);
	mutex_unlock(&zone->zone_lock);
}

typedef void (*zsd_applyfn_t)(zone_t *, zone_key_t);

/* Applies `applyfn` to every key of one zone. */
static ZSD_FRAME void zsd_apply_all_keys(zsd_applyfn_t applyfn, zone_t *zone)
{
	zone_key_t keys[ZSD_MAX_KEYS];
	struct zsd_entry *t;
	int n = 0, i;

	mutex_lock(&zone->zone_lock);
	list_for_each_entry(t, &zone->zone_zsd, zsd_linkage)
		if (n < ZSD_MAX_KEYS)
			keys[n++] = t->zsd_key;
	mutex_unlock(&zone->zone_lock);
	for (i = 0; i < n; i++)
		applyfn(zone, keys[i]);
}

/* Applies `applyfn` for one key to every active zone (no global lock held). */
static ZSD_FRAME void zsd_apply_all_zones(zsd_applyfn_t applyfn, zone_key_t key)
{
	zone_t **zones;
	zone_t *zone;
	int n = 0, i;

	zones = kcalloc(ZSD_MAX_ZONES, sizeof(*zones), GFP_KERNEL | __GFP_NOFAIL);
	mutex_lock(&zonehash_lock);
	list_for_each_entry(zone, &zone_active, zone_linkage) {
		if (n == ZSD_MAX_ZONES)
			break;
		refcount_inc(&zone->zone_ref);
		zones[n++] = zone;
	}
	mutex_unlock(&zonehash_lock);
	for (i = 0; i < n; i++) {
		applyfn(zones[i], key);
		zone_rele(zones[i]);
	}
	kfree(zones);
}

/* Marks every entry of the zone for `ct` and runs the callbacks. */
static ZSD_FRAME void zone_zsd_callbacks(zone_t *zone, enum zsd_callback_type ct)
{
	struct zsd_entry *t;

	mutex_lock(&zone->zone_lock);
	list_for_each_entry(t, &zone->zone_zsd, zsd_linkage) {
		if (ct == ZSD_DESTROY) {
			if (t->zsd_destroy && !(t->zsd_flags & ZSD_DESTROY_ALL))
				t->zsd_flags |= ZSD_DESTROY_NEEDED;
		} else {
			if (t->zsd_shutdown && !(t->zsd_flags & ZSD_SHUTDOWN_ALL))
				t->zsd_flags |= ZSD_SHUTDOWN_NEEDED;
		}
	}
	zsd_changed(zone);
	mutex_unlock(&zone->zone_lock);

	zsd_apply_all_keys(ct == ZSD_DESTROY ? zsd_apply_destroy : zsd_apply_shutdown, zone);
}

/* ---- ZSD: keys ------------------------------------------------------------ */

zone_key_t zone_key_create(void *(*create)(zoneid_t),
			   void (*shutdown)(zoneid_t, void *),
			   void (*destroy)(zoneid_t, void *))
{
	struct zsd_entry *zsdp, *t;
	zone_t *zone;
	zone_key_t key;
	int nkeys = 0;

	zsdp = kzalloc(sizeof(*zsdp), GFP_KERNEL | __GFP_NOFAIL);
	zsdp->zsd_create = create;
	zsdp->zsd_shutdown = shutdown;
	zsdp->zsd_destroy = destroy;

	mutex_lock(&zonehash_lock);	/* stop the world */
	list_for_each_entry(t, &zsd_registered_keys, zsd_linkage)
		nkeys++;
	if (nkeys == ZSD_MAX_KEYS) {
		mutex_unlock(&zonehash_lock);
		kfree(zsdp);
		return 0;
	}
	key = zsdp->zsd_key = ++zsd_keyval;
	list_add_tail(&zsdp->zsd_linkage, &zsd_registered_keys);

	list_for_each_entry(zone, &zone_active, zone_linkage) {
		zone_status_t status;

		mutex_lock(&zone->zone_lock);
		/* Skip zones that are on the way down or not yet up */
		status = zone->zone_status;
		if (status >= ZONE_IS_DOWN || status == ZONE_IS_UNINITIALIZED) {
			mutex_unlock(&zone->zone_lock);
			continue;
		}
		t = kzalloc(sizeof(*t), GFP_KERNEL | __GFP_NOFAIL);
		t->zsd_key = key;
		t->zsd_create = create;
		t->zsd_shutdown = shutdown;
		t->zsd_destroy = destroy;
		if (create)
			t->zsd_flags = ZSD_CREATE_NEEDED;
		list_add_tail(&t->zsd_linkage, &zone->zone_zsd);
		zsd_changed(zone);
		mutex_unlock(&zone->zone_lock);
	}
	mutex_unlock(&zonehash_lock);
	if (verbose)
		pr_info("zones: key %u created\n", key);

	if (create)
		zsd_apply_all_zones(zsd_apply_create, key);
	return key;
}
EXPORT_SYMBOL_GPL(zone_key_create);

static void zsd_remove_entry(zone_t *zone, zone_key_t key)
{
	struct zsd_entry *t;

	mutex_lock(&zone->zone_lock);
	t = zsd_wait_idle(zone, key, ZSD_ALL_INPROGRESS);
	if (t) {
		list_del(&t->zsd_linkage);
		kfree(t);
		zsd_changed(zone);
	}
	mutex_unlock(&zone->zone_lock);
}

int zone_key_delete(zone_key_t key)
{
	struct zsd_entry *zsdp, *t;
	zone_t *zone;

	mutex_lock(&zonehash_lock);
	zsdp = zsd_find(&zsd_registered_keys, key);
	if (!zsdp) {
		mutex_unlock(&zonehash_lock);
		return -EINVAL;
	}
	list_del(&zsdp->zsd_linkage);

	list_for_each_entry(zone, &zone_active, zone_linkage) {
		mutex_lock(&zone->zone_lock);
		t = zsd_find(&zone->zone_zsd, key);
		if (t) {
			/* No shutdown after destroy: an entry created late skips both. */
			if (t->zsd_shutdown &&
			    !(t->zsd_flags & (ZSD_SHUTDOWN_ALL | ZSD_DESTROY_ALL)))
				t->zsd_flags |= ZSD_SHUTDOWN_NEEDED;
			if (t->zsd_destroy && !(t->zsd_flags & ZSD_DESTROY_ALL))
				t->zsd_flags |= ZSD_DESTROY_NEEDED;
			zsd_changed(zone);
		}
		mutex_unlock(&zone->zone_lock);
	}
	mutex_unlock(&zonehash_lock);

	zsd_apply_all_zones(zsd_apply_shutdown, key);
	zsd_apply_all_zones(zsd_apply_destroy, key);
	zsd_apply_all_zones(zsd_remove_entry, key);
	kfree(zsdp);
	if (verbose)
		pr_info("zones: key %u deleted\n", key);
	return 0;
}
EXPORT_SYMBOL_GPL(zone_key_delete);

/* ---- the zone life cycle --------------------------------------------------- */

static void zoneadmd_halt(struct work_struct *work);

static int zone_create(const char *name)
{
	struct zsd_entry *k, *t;
	zone_t *zone;

	zone = kzalloc(sizeof(*zone), GFP_KERNEL);
	if (!zone)
		return -ENOMEM;
	strscpy(zone->zone_name, name, sizeof(zone->zone_name));
	mutex_init(&zone->zone_lock);
	INIT_LIST_HEAD(&zone->zone_zsd);
	init_waitqueue_head(&zone->zone_cv);
	INIT_WORK(&zone->zone_halt_work, zoneadmd_halt);
	refcount_set(&zone->zone_ref, 1);	/* zone_active's */
	zone->zone_status = ZONE_IS_UNINITIALIZED;

	mutex_lock(&zonehash_lock);
	if (zone_find_all_by_name(name)) {
		mutex_unlock(&zonehash_lock);
		kfree(zone);
		return -EEXIST;
	}
	zone->zone_id = zone_next_id++;
	/* zone_zsd_configure(): an entry for every registered key */
	list_for_each_entry(k, &zsd_registered_keys, zsd_linkage) {
		t = kzalloc(sizeof(*t), GFP_KERNEL | __GFP_NOFAIL);
		t->zsd_key = k->zsd_key;
		t->zsd_create = k->zsd_create;
		t->zsd_shutdown = k->zsd_shutdown;
		t->zsd_destroy = k->zsd_destroy;
		if (t->zsd_create)
			t->zsd_flags = ZSD_CREATE_NEEDED;
		list_add_tail(&t->zsd_linkage, &zone->zone_zsd);
	}
	list_add_tail(&zone->zone_linkage, &zone_active);
	refcount_inc(&zone->zone_ref);	/* ours, until the end of this function */
	mutex_unlock(&zonehash_lock);

	zone_status_set(zone, ZONE_IS_INITIALIZED);
	zsd_apply_all_keys(zsd_apply_create, zone);
	zone_status_set(zone, ZONE_IS_READY);
	zone_rele(zone);
	return 0;
}

static ZSD_FRAME int zone_destroy(zoneid_t zoneid)
{
	zone_t *zone = zone_find_by_id(zoneid);

	if (!zone)
		return -EINVAL;
	if (zone_status_get(zone) < ZONE_IS_DOWN) {
		zone_rele(zone);
		return -EBUSY;
	}
	zone_status_set(zone, ZONE_IS_DYING);
	zone_status_set(zone, ZONE_IS_DEAD);
	zone_zsd_callbacks(zone, ZSD_DESTROY);
	zone_rele(zone);
	return 0;
}

static ZSD_FRAME void zone_shutdown(zone_t *zone)
{
	if (kill_ms)
		msleep(kill_ms);			/* killall() */
	zone_status_set(zone, ZONE_IS_EMPTY);
	zone_zsd_callbacks(zone, ZSD_SHUTDOWN);
}

/*
 * Whether this halt drains (opens the OS-7410 window): always at the default
 * drain_permille of 1000, else with that probability per mille.
 */
static bool zone_drains(zone_t *zone)
{
	unsigned int permille = READ_ONCE(drain_permille);

	if (permille < 1000 && get_random_u32() % 1000 >= permille)
		return false;
	spin_lock(&zsd_stats_lock);
	drain_windows++;
	spin_unlock(&zsd_stats_lock);
	if (verbose && permille < 1000)
		pr_info("zones: zone %d (%s) drains for %u ms\n", zone->zone_id,
			zone->zone_name, READ_ONCE(drain_ms));
	return true;
}

/* What zoneadmd does for `zoneadm halt`, on a work item. Holds a reference. */
static ZSD_FRAME void zoneadmd_halt(struct work_struct *work)
{
	zone_t *zone = container_of(work, zone_t, zone_halt_work);

	zone_shutdown(zone);
	if (zone_drains(zone))
		msleep(READ_ONCE(drain_ms));		/* kernel threads draining */
	zone_status_set(zone, ZONE_IS_DOWN);
	zone_destroy(zone->zone_id);

	mutex_lock(&zone->zone_lock);
	zone->zone_halted = true;
	mutex_unlock(&zone->zone_lock);
	wake_up_all(&zone->zone_cv);
	zone_rele(zone);
}

/* A held reference to the named zone, or NULL. */
static zone_t *zone_find_by_name(const char *name)
{
	zone_t *zone;

	mutex_lock(&zonehash_lock);
	zone = zone_find_all_by_name(name);
	if (zone)
		refcount_inc(&zone->zone_ref);
	mutex_unlock(&zonehash_lock);
	return zone;
}

static int zone_boot(zone_t *zone)
{
	mutex_lock(&zone->zone_lock);
	if (zone->zone_status != ZONE_IS_READY) {
		mutex_unlock(&zone->zone_lock);
		return -EBUSY;
	}
	WRITE_ONCE(zone->zone_status, ZONE_IS_BOOTING);
	mutex_unlock(&zone->zone_lock);
	zone_status_set(zone, ZONE_IS_BOOTING);
	zone_status_set(zone, ZONE_IS_RUNNING);
	return 0;
}

static int zone_halt(zone_t *zone)
{
	mutex_lock(&zone->zone_lock);
	if (zone->zone_status < ZONE_IS_READY ||
	    zone->zone_status >= ZONE_IS_SHUTTING_DOWN) {
		mutex_unlock(&zone->zone_lock);
		return -EBUSY;
	}
	WRITE_ONCE(zone->zone_status, ZONE_IS_SHUTTING_DOWN);
	mutex_unlock(&zone->zone_lock);
	zone_status_set(zone, ZONE_IS_SHUTTING_DOWN);
	refcount_inc(&zone->zone_ref);			/* the work item's */
	queue_work(zoneadmd_wq, &zone->zone_halt_work);
	return 0;
}

static int zone_wait(zone_t *zone)
{
	return wait_event_interruptible(zone->zone_cv, READ_ONCE(zone->zone_halted));
}

/* Frees a dead zone (zonecfg delete); live zones must be halted first. */
static int zone_remove(zone_t *zone)
{
	mutex_lock(&zonehash_lock);
	if (!READ_ONCE(zone->zone_halted) || list_empty(&zone->zone_linkage)) {
		mutex_unlock(&zonehash_lock);
		return -EBUSY;
	}
	list_del_init(&zone->zone_linkage);
	mutex_unlock(&zonehash_lock);
	if (verbose)
		pr_info("zones: zone %d (%s) destroyed\n", zone->zone_id, zone->zone_name);
	zone_rele(zone);				/* zone_active's */
	return 0;
}

/* ---- /proc/zones ------------------------------------------------------------ */

static int zones_show(struct seq_file *m, void *v)
{
	zone_t *zone;
	struct zsd_entry *t;

	seq_printf(m, "%4s %-14s %-20s %s\n", "ID", "STATUS", "NAME", "ZSD");
	mutex_lock(&zonehash_lock);
	list_for_each_entry(zone, &zone_active, zone_linkage) {
		mutex_lock(&zone->zone_lock);
		seq_printf(m, "%4d %-14s %-20s", zone->zone_id,
			   zone_status_names[zone->zone_status], zone->zone_name);
		list_for_each_entry(t, &zone->zone_zsd, zsd_linkage)
			seq_printf(m, " %u:%#x", t->zsd_key, t->zsd_flags);
		seq_putc(m, '\n');
		mutex_unlock(&zone->zone_lock);
	}
	mutex_unlock(&zonehash_lock);
	return 0;
}

static int zones_open(struct inode *inode, struct file *file)
{
	return single_open(file, zones_show, NULL);
}

static ssize_t zones_write(struct file *file, const char __user *ubuf,
			   size_t len, loff_t *ppos)
{
	char buf[64], *cmd, *name;
	zone_t *zone;
	int err;

	if (len >= sizeof(buf))
		return -EINVAL;
	if (copy_from_user(buf, ubuf, len))
		return -EFAULT;
	buf[len] = '\0';
	name = strim(buf);
	cmd = strsep(&name, " \t");
	if (!name || !*name || strlen(name) >= sizeof(zone->zone_name) ||
	    strpbrk(name, " \t"))
		return -EINVAL;

	if (strcmp(cmd, "create") == 0) {
		err = zone_create(name);
		return err ? err : len;
	}
	zone = zone_find_by_name(name);
	if (!zone)
		return -ENOENT;
	if (strcmp(cmd, "boot") == 0)
		err = zone_boot(zone);
	else if (strcmp(cmd, "halt") == 0)
		err = zone_halt(zone);
	else if (strcmp(cmd, "wait") == 0)
		err = zone_wait(zone);
	else if (strcmp(cmd, "destroy") == 0)
		err = zone_remove(zone);
	else
		err = -EINVAL;
	zone_rele(zone);
	return err ? err : len;
}

static const struct proc_ops zones_proc_ops = {
	.proc_open = zones_open,
	.proc_read = seq_read,
	.proc_lseek = seq_lseek,
	.proc_release = single_release,
	.proc_write = zones_write,
};

static int __init zones_init(void)
{
	zoneadmd_wq = alloc_workqueue("zoneadmd", WQ_UNBOUND, 0);
	if (!zoneadmd_wq)
		return -ENOMEM;
	if (!proc_create("zones", 0644, NULL, &zones_proc_ops)) {
		destroy_workqueue(zoneadmd_wq);
		return -ENOMEM;
	}
	pr_info("zones: ready (drain_ms=%u drain_permille=%u kill_ms=%u)\n",
		drain_ms, drain_permille, kill_ms);
	return 0;
}

static void __exit zones_exit(void)
{
	zone_t *zone, *next;

	remove_proc_entry("zones", NULL);
	destroy_workqueue(zoneadmd_wq);		/* waits for halts in progress */
	list_for_each_entry_safe(zone, next, &zone_active, zone_linkage) {
		list_del(&zone->zone_linkage);
		zone_rele(zone);
	}
}

module_init(zones_init);
module_exit(zones_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("Miniature illumos zones and zone-specific data (OS-7410 fixture)");
