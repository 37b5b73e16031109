// SPDX-License-Identifier: GPL-2.0
/*
 * vmm.c: the miniature bhyve vmm of OS-7410 (vmm_zsd.c in illumos-joyent).
 *
 * Loading it calls zone_key_create(), unloading it zone_key_delete(); each
 * zone gets a vmm_zsd_t whose vz_active says whether VMs may still be added.
 * One source, two behaviours:
 *
 *  - debug (the DEBUG kernel before the fix): vmm_zsd_create() sets
 *    vz_active, vmm_zsd_shutdown() asserts it and clears it, and
 *    vmm_zsd_destroy() asserts !vz_active. A reload that lands while a zone
 *    is between its shutdown callbacks and ZONE_IS_DOWN creates a vmm_zsd_t
 *    that never sees a shutdown, and the destroy assertion fires.
 *  - fixed: illumos-joyent commit a454ac291ee3: create sets vz_active from
 *    the zone's status, shutdown no longer asserts, destroy keeps its
 *    assertion (which can no longer fire).
 *
 * The module parameter `fixed` chooses; its default is the build's:
 * -DOS7410_FIXED builds default to fixed, the others to debug. The built-in
 * bisection series (linux-os7410-b1 ... b6) boots the debug build's modules
 * with vmm.fixed=1 or vmm.fixed=0 on the kernel command line, which busybox
 * modprobe passes on, so the series compiles nothing of its own.
 *
 * ASSERT() prints illumos' words, then BUG_ON() (the DEBUG kernel's panic;
 * the image boots with panic_on_oops=1).
 */
#include <linux/module.h>
#include <linux/slab.h>
#include <linux/list.h>
#include <linux/mutex.h>

#include "zones.h"

#ifdef OS7410_FIXED
#define VMM_BUILD "fixed"
#else
#define VMM_BUILD "debug"
#endif

static bool fixed = IS_ENABLED(OS7410_FIXED);
module_param(fixed, bool, 0444);
MODULE_PARM_DESC(fixed, "behave as the fixed vmm (illumos-joyent a454ac291ee3); default: the build's (" VMM_BUILD ")");

#define ASSERT(EX) do {							\
	bool __ok = (EX);						\
	if (!__ok)							\
		pr_emerg("assertion failed: %s, file: %s, line: %d\n",	\
			 #EX, __FILE__, __LINE__);			\
	BUG_ON(!__ok);							\
} while (0)

typedef struct vmm_zsd {
	struct list_head vz_vmms;	/* the zone's VMs (none here) */
	struct list_head vz_linkage;	/* vmm_zsds */
	bool vz_active;			/* may VMs still be added? */
	zoneid_t vz_zoneid;
	struct mutex vz_lock;
} vmm_zsd_t;

static zone_key_t vmm_zsd_key;
static LIST_HEAD(vmm_zsds);
static DEFINE_MUTEX(vmm_zsds_lock);

static void *vmm_zsd_create(zoneid_t zid)
{
	vmm_zsd_t *zsd;
	zone_t *zone;

	zsd = kzalloc(sizeof(*zsd), GFP_KERNEL | __GFP_NOFAIL);
	INIT_LIST_HEAD(&zsd->vz_vmms);
	mutex_init(&zsd->vz_lock);
	zsd->vz_zoneid = zid;
	if (fixed) {
		zone = zone_find_by_id(zid);
		/*
		 * If the vmm_zsd_t structure is being created while the zone is
		 * shutting down, set vz_active to false so that vmm_zsd_add_vm()
		 * will refuse to add it.
		 */
		zsd->vz_active = zone && zone_status_get(zone) < ZONE_IS_SHUTTING_DOWN;
		if (zone)
			zone_rele(zone);
	} else {
		zsd->vz_active = true;
	}
	mutex_lock(&vmm_zsds_lock);
	list_add_tail(&zsd->vz_linkage, &vmm_zsds);
	mutex_unlock(&vmm_zsds_lock);
	return zsd;
}

static void vmm_zsd_shutdown(zoneid_t zid, void *data)
{
	vmm_zsd_t *zsd = data;

	mutex_lock(&zsd->vz_lock);
	if (!fixed)
		ASSERT(zsd->vz_active);
	/*
	 * This may already be false if vmm_zsd_create() happened while the
	 * zone was shutting down.
	 */
	zsd->vz_active = false;
	/* (the real vmm destroys the zone's VMs here) */
	mutex_unlock(&zsd->vz_lock);
}

static noinline __attribute__((__noipa__)) void vmm_zsd_destroy(zoneid_t zid, void *data)
{
	vmm_zsd_t *zsd = data;

	mutex_lock(&zsd->vz_lock);
	ASSERT(!zsd->vz_active);
	mutex_unlock(&zsd->vz_lock);

	mutex_lock(&vmm_zsds_lock);
	list_del(&zsd->vz_linkage);
	mutex_unlock(&vmm_zsds_lock);
	kfree(zsd);
}

static int __init vmm_init(void)
{
	vmm_zsd_key = zone_key_create(vmm_zsd_create, vmm_zsd_shutdown,
				      vmm_zsd_destroy);
	if (!vmm_zsd_key)
		return -ENOSPC;
	pr_info("vmm: loaded (%s build, fixed=%d), zsd key %u\n", VMM_BUILD, fixed,
		vmm_zsd_key);
	return 0;
}

static void __exit vmm_exit(void)
{
	zone_key_delete(vmm_zsd_key);
	pr_info("vmm: unloaded\n");
}

module_init(vmm_init);
module_exit(vmm_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("Miniature bhyve vmm zone-specific data (OS-7410 fixture, " VMM_BUILD " build)");
