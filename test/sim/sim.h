/* sim.h: the simulation's shared declarations (see sim.c). */
#ifndef USO_SIM_H
#define USO_SIM_H

#include "pgtime.h"

extern pg_tz *SimZone(const char *name);

#endif
