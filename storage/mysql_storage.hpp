// The MySQL-backed account store: a pool of detached workers, each owning one
// connection, behind the round-robin dispatcher of actors/worker_pool.hpp.
#pragma once

#include <caf/actor_system.hpp>
#include <caf/error.hpp>

#include "messages/storage_actor.hpp"
#include "storage/mysql_settings.hpp"

namespace herald::storage {

/// Applies every migration not yet recorded in `schema_migrations`, under a
/// named lock so that nodes starting together do not race. Blocking: call it
/// from main or a detached actor.
caf::error migrate(const mysql_settings& cfg);

/// Spawns the pool and answers the dispatcher. Connections are opened lazily
/// and re-opened after loss. Events name `cfg.event_source` as their source.
/// A worker answers every failure with an error and never exits on its own;
/// if one dies anyway (a bug), the pool spawns it again, and gives up (exits)
/// only when that keeps happening (actors/worker_pool.hpp).
storage_actor spawn_mysql_storage(caf::actor_system& sys,
                                  const mysql_settings& cfg);

} // namespace herald::storage
