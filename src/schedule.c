/* placeholder until the grammar lands */
#include "postgres.h"
#include "schedule.h"
