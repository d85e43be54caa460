// The message catalogue's entry point: every atom herald uses, in one
// namespace, and forward declarations of the value types and interfaces.
// Atom texts are at most 10 characters (CAF 0.17 limit).
#pragma once

#include <caf/atom.hpp>
#include <caf/fwd.hpp>
#include <caf/type_id.hpp>

// CAF's core already defines get_atom, put_atom, delete_atom, ok_atom,
// publish_atom and connect_atom in namespace caf; we use those and add ours.
CAF_ADD_ATOM(herald, herald::atom, create, "create")
CAF_ADD_ATOM(herald, herald::atom, list, "list")
CAF_ADD_ATOM(herald, herald::atom, update, "update")
CAF_ADD_ATOM(herald, herald::atom, remove, "remove")
CAF_ADD_ATOM(herald, herald::atom, authenticate, "authentic")
CAF_ADD_ATOM(herald, herald::atom, set_role, "set_role")
CAF_ADD_ATOM(herald, herald::atom, login, "login")
CAF_ADD_ATOM(herald, herald::atom, session, "session")
CAF_ADD_ATOM(herald, herald::atom, ping, "ping")
CAF_ADD_ATOM(herald, herald::atom, validate, "validate")
CAF_ADD_ATOM(herald, herald::atom, revoke, "revoke")
CAF_ADD_ATOM(herald, herald::atom, forget, "forget")
CAF_ADD_ATOM(herald, herald::atom, hash, "hash")
CAF_ADD_ATOM(herald, herald::atom, verify, "verify")
CAF_ADD_ATOM(herald, herald::atom, status, "status")
CAF_ADD_ATOM(herald, herald::atom, get, "get")
CAF_ADD_ATOM(herald, herald::atom, by_email, "by_email")
CAF_ADD_ATOM(herald, herald::atom, user, "user")
CAF_ADD_ATOM(herald, herald::atom, token, "token")
// -- events, outbox, password reset, mail -----------------------------------
CAF_ADD_ATOM(herald, herald::atom, publish, "publish")
CAF_ADD_ATOM(herald, herald::atom, subscribe, "subscribe")
CAF_ADD_ATOM(herald, herald::atom, unsubscribe, "unsubscr")
CAF_ADD_ATOM(herald, herald::atom, handle, "handle")
CAF_ADD_ATOM(herald, herald::atom, wake, "wake")
CAF_ADD_ATOM(herald, herald::atom, tick, "tick")
CAF_ADD_ATOM(herald, herald::atom, outbox, "outbox")
CAF_ADD_ATOM(herald, herald::atom, outbox_fetch, "ob_fetch")
CAF_ADD_ATOM(herald, herald::atom, outbox_done, "ob_done")
CAF_ADD_ATOM(herald, herald::atom, outbox_failed, "ob_failed")
CAF_ADD_ATOM(herald, herald::atom, outbox_claim, "ob_claim")
CAF_ADD_ATOM(herald, herald::atom, outbox_release, "ob_release")
CAF_ADD_ATOM(herald, herald::atom, reset, "reset")
CAF_ADD_ATOM(herald, herald::atom, reset_request, "reset_req")
CAF_ADD_ATOM(herald, herald::atom, reset_check, "reset_chk")
CAF_ADD_ATOM(herald, herald::atom, reset_confirm, "reset_conf")
CAF_ADD_ATOM(herald, herald::atom, reset_issue, "reset_iss")
CAF_ADD_ATOM(herald, herald::atom, processed, "processed")
CAF_ADD_ATOM(herald, herald::atom, mark_processed, "mark_proc")
CAF_ADD_ATOM(herald, herald::atom, event_claim, "ev_claim")
CAF_ADD_ATOM(herald, herald::atom, event_release, "ev_release")
CAF_ADD_ATOM(herald, herald::atom, send, "send")
CAF_ADD_ATOM(herald, herald::atom, bridge, "bridge")
// -- throttling ---------------------------------------------------------------
CAF_ADD_ATOM(herald, herald::atom, throttle_hit, "thr_hit")
CAF_ADD_ATOM(herald, herald::atom, throttle_undo, "thr_undo")
CAF_ADD_ATOM(herald, herald::atom, throttle_clear, "thr_clear")

namespace herald {

struct user;
struct new_user;
struct user_patch;
struct user_page;
struct account;
struct new_account;
struct account_patch;
struct issued_token;
struct session;
struct request_context;
struct component_status;
struct claims;
struct password_check;
struct node_status;
struct event;
struct outbox_status;
struct dead_event;
struct reset_ticket;
struct mail;
struct throttle_rule;

} // namespace herald
