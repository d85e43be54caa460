// The single type-ID block of herald. Every type that travels in a message
// (and every typed handle that does) is listed here; both ends of a
// connection register the same names via add_message_types().
#pragma once

#include <caf/type_id.hpp>

#include "messages/bridge.hpp"
#include "messages/cluster.hpp"
#include "messages/context.hpp"
#include "messages/event.hpp"
#include "messages/event_actors.hpp"
#include "messages/hasher_actor.hpp"
#include "messages/mail_actor.hpp"
#include "messages/node.hpp"
#include "messages/node_actor.hpp"
#include "messages/reset_actor.hpp"
#include "messages/session_actor.hpp"
#include "messages/storage_actor.hpp"
#include "messages/throttle.hpp"
#include "messages/token.hpp"
#include "messages/token_actor.hpp"
#include "messages/user.hpp"
#include "messages/user_actor.hpp"

CAF_BEGIN_TYPE_ID_BLOCK(herald, caf::first_custom_type_id)

  CAF_ADD_TYPE_ID(herald, (herald::user))
  CAF_ADD_TYPE_ID(herald, (herald::new_user))
  CAF_ADD_TYPE_ID(herald, (herald::user_patch))
  CAF_ADD_TYPE_ID(herald, (herald::user_page))
  CAF_ADD_TYPE_ID(herald, (herald::account))
  CAF_ADD_TYPE_ID(herald, (herald::new_account))
  CAF_ADD_TYPE_ID(herald, (herald::account_patch))
  CAF_ADD_TYPE_ID(herald, (herald::password_check))
  CAF_ADD_TYPE_ID(herald, (herald::issued_token))
  CAF_ADD_TYPE_ID(herald, (herald::claims))
  CAF_ADD_TYPE_ID(herald, (herald::node_status))
  CAF_ADD_TYPE_ID(herald, (herald::storage_status))
  CAF_ADD_TYPE_ID(herald, (herald::user_actor))
  CAF_ADD_TYPE_ID(herald, (herald::token_actor))
  CAF_ADD_TYPE_ID(herald, (herald::storage_actor))
  CAF_ADD_TYPE_ID(herald, (herald::hasher_actor))
  CAF_ADD_TYPE_ID(herald, (herald::node_actor))
  CAF_ADD_TYPE_ID(herald, (herald::event))
  CAF_ADD_TYPE_ID(herald, (herald::outbox_status))
  CAF_ADD_TYPE_ID(herald, (herald::reset_ticket))
  CAF_ADD_TYPE_ID(herald, (herald::mail))
  CAF_ADD_TYPE_ID(herald, (std::vector<herald::event>))
  CAF_ADD_TYPE_ID(herald, (std::vector<uint64_t>))
  CAF_ADD_TYPE_ID(herald, (herald::event_handler_actor))
  CAF_ADD_TYPE_ID(herald, (herald::event_bus_actor))
  CAF_ADD_TYPE_ID(herald, (herald::outbox_relay_actor))
  CAF_ADD_TYPE_ID(herald, (herald::password_reset_actor))
  CAF_ADD_TYPE_ID(herald, (herald::smtp_actor))
  CAF_ADD_TYPE_ID(herald, (herald::route_stats))
  CAF_ADD_TYPE_ID(herald, (herald::bridge_status))
  CAF_ADD_TYPE_ID(herald, (herald::amqp_bridge_actor))

  CAF_ADD_TYPE_ID(herald, (herald::request_context))
  CAF_ADD_TYPE_ID(herald, (herald::session))
  CAF_ADD_TYPE_ID(herald, (herald::session_actor))
  CAF_ADD_TYPE_ID(herald, (herald::component_status))
  CAF_ADD_TYPE_ID(herald, (std::vector<herald::component_status>))

  CAF_ADD_TYPE_ID(herald, (herald::throttle_rule))
  CAF_ADD_TYPE_ID(herald, (std::vector<herald::throttle_rule>))

  CAF_ADD_TYPE_ID(herald, (herald::hasher_status))

  CAF_ADD_TYPE_ID(herald, (herald::member_info))
  CAF_ADD_TYPE_ID(herald, (std::vector<herald::member_info>))
  CAF_ADD_TYPE_ID(herald, (herald::member_row))
  CAF_ADD_TYPE_ID(herald, (std::vector<herald::member_row>))
  CAF_ADD_TYPE_ID(herald, (herald::route_row))
  CAF_ADD_TYPE_ID(herald, (std::vector<herald::route_row>))
  CAF_ADD_TYPE_ID(herald, (herald::cluster_status))

CAF_END_TYPE_ID_BLOCK(herald)

namespace herald {

/// Registers herald's message types and error category with a config. Every
/// actor system of herald (node, CLI, tests) calls this once.
void add_message_types(caf::actor_system_config& cfg);

} // namespace herald
