/* sim_grid.h - owns sluice-sim's spatial index of idle riders: which idle
 * rider is nearest to a store, without looking at every rider.
 *
 * A square grid of cells over the riders' disc (and a margin around it),
 * each cell a list of the idle riders in it; riders outside the grid sit in
 * one overflow list that every search scans. A search walks rings of cells
 * outward from the store's cell and stops once no closer rider can be in a
 * further ring. The answer is the same as a scan of every idle rider:
 * nearest by sim_distance_km, the lowest index on a tie. */
#ifndef SLUICE_SIM_GRID_H
#define SLUICE_SIM_GRID_H

#include "sim_world.h"

#include <stddef.h>
#include <stdint.h>

typedef struct sim_grid sim_grid_t;

/* sim_grid_new: a grid for riders 0..RIDERS-1 around CENTER (RADIUS_KM),
 * none of them in it yet. All memory is taken here; add and remove never
 * allocate. NULL when out of memory. */
sim_grid_t *sim_grid_new(sim_geo_t center, double radius_km, uint32_t riders);
void sim_grid_free(sim_grid_t **self);

/* sim_grid_add puts idle RIDER at AT (it must not be in the grid);
 * sim_grid_remove takes it out (no-op when it is not in). */
void sim_grid_add(sim_grid_t *g, uint32_t rider, sim_geo_t at);
void sim_grid_remove(sim_grid_t *g, uint32_t rider);

/* sim_grid_nearest: the rider in the grid nearest to AT and its distance in
 * *KM, or -1 (and *KM = INFINITY) when the grid is empty. */
int32_t sim_grid_nearest(const sim_grid_t *g, sim_geo_t at, double *km);

/* sim_grid_bound_km: no rider in the grid is nearer to AT than this (0
 * when the grid cannot say: no flat map), so a search over several grids
 * can skip those of far cities. Riders outside the box are looked at one
 * by one. */
double sim_grid_bound_km(const sim_grid_t *g, sim_geo_t at);

/* sim_grid_count: riders in the grid. */
size_t sim_grid_count(const sim_grid_t *g);

#endif
