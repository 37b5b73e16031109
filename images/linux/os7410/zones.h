/* SPDX-License-Identifier: GPL-2.0 */
/*
 * zones.h: the interface of the miniature illumos zones + ZSD module (zones.ko)
 * that other modules (vmm.ko) build against. Names and semantics follow
 * illumos' uts/common/os/zone.c and sys/zone.h.
 */
#ifndef OS7410_ZONES_H
#define OS7410_ZONES_H

#include <linux/types.h>

typedef int zoneid_t;
typedef unsigned int zone_key_t;

/* The zone life cycle, in illumos' order (sys/zone.h). */
typedef enum {
	ZONE_IS_UNINITIALIZED = 0,
	ZONE_IS_INITIALIZED,
	ZONE_IS_READY,
	ZONE_IS_BOOTING,
	ZONE_IS_RUNNING,
	ZONE_IS_SHUTTING_DOWN,
	ZONE_IS_EMPTY,
	ZONE_IS_DOWN,
	ZONE_IS_DYING,
	ZONE_IS_DEAD,
} zone_status_t;

struct izone;		/* illumos' struct zone (Linux has its own) */
typedef struct izone zone_t;

zone_key_t zone_key_create(void *(*create)(zoneid_t),
			   void (*shutdown)(zoneid_t, void *),
			   void (*destroy)(zoneid_t, void *));
int zone_key_delete(zone_key_t key);

/* A held reference to the zone with this id, or NULL; release with zone_rele(). */
zone_t *zone_find_by_id(zoneid_t id);
void zone_rele(zone_t *zone);
zone_status_t zone_status_get(zone_t *zone);

#endif
