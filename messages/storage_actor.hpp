// Interface of the account store. Every request is one whole unit of work;
// implementations: the MySQL pool (storage/) and an in-memory fake (tests).
// Who may call: this node's services only. The node never hands storage out,
// and no service delegates a request to it (a delegated answer would come
// from a storage worker and make it addressable from the caller's node).
// Writes take the request context of the request that caused them and
// store it with the events they write.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

#include "messages/context.hpp"
#include "messages/event.hpp"
#include "messages/fwd.hpp"
#include "messages/node.hpp"
#include "messages/throttle.hpp"
#include "messages/user.hpp"

namespace herald {

using storage_actor = caf::typed_actor<
    /// Inserts an account; `conflict` if the email is taken. Writes
    /// user.created to the outbox in the same transaction.
    caf::replies_to<atom::create, request_context, new_account>::with<account>,
    /// Reads an account by id; `not_found` if there is none.
    caf::replies_to<atom::get, uint64_t>::with<account>,
    /// Reads an account by (lower-cased) email; `not_found` if there is none.
    caf::replies_to<atom::get, atom::by_email, std::string>::with<account>,
    /// Lists up to `limit` (at least 1) accounts with id > `after`, ordered
    /// by id, and the id to continue after (0 at the end): (after, limit).
    /// One index range read, no OFFSET and no COUNT.
    caf::replies_to<atom::list, uint64_t, uint32_t>::with<user_page>,
    /// Applies a patch in one transaction and answers the new state;
    /// `not_found` or `conflict` (email taken). Writes user.updated (name,
    /// email or role changed) and user.password_changed (hash changed with a
    /// token version bump) to the outbox in the same transaction.
    caf::replies_to<atom::update, request_context, uint64_t,
                    account_patch>::with<account>,
    /// Deletes an account (and its reset tokens); `not_found` if there is
    /// none. Writes user.deleted to the outbox in the same transaction.
    caf::replies_to<atom::remove, request_context,
                    uint64_t>::with<caf::ok_atom>,
    /// Pings the database and estimates the number of accounts from the
    /// table statistics (O(1): no COUNT(*)).
    caf::replies_to<atom::status>::with<storage_status>,
    // -- password reset ------------------------------------------------------
    /// In one transaction: counts this email's requests of the last hour
    /// (`rate_limited` at max_per_hour, known email or not) and records this
    /// one; if the email belongs to a user, records the request (bound to
    /// its event id, with its expiry; no token) and writes
    /// password.reset_requested (no token: the user's stored address and the
    /// expiry) to the outbox. Ok for unknown emails too.
    caf::replies_to<atom::reset_request, request_context,
                    reset_ticket>::with<caf::ok_atom>,
    /// (event id, user id, token hash, legacy token hash): the mailer,
    /// before it mails a link. In one transaction with the user's row
    /// locked: finds the request that event `event id` recorded for the
    /// user, voids every token issued for it before, stores `token hash`
    /// for it and answers when it expires (unix seconds). So only the latest
    /// mailed link of a request works. `not_found` if there is no such
    /// request (or user), `revoked` if a reset of the user's password
    /// happened since, `expired`. `legacy token hash` (or "") is the hash of
    /// the token an event of an older herald carried: that token's row
    /// becomes the request and the token is voided.
    caf::replies_to<atom::reset_issue, std::string, uint64_t, std::string,
                    std::string>::with<int64_t>,
    /// Checks a token hash without changing anything: ok if it could be used
    /// now, else `not_found`, `already_used`, `expired` or `revoked`.
    caf::replies_to<atom::reset_check, std::string>::with<caf::ok_atom>,
    /// (token_hash, new_password_hash): in one transaction with the reset row
    /// locked, checks it as reset_check does, stores the hash, bumps the
    /// token version, marks the token used, voids the user's other tokens and
    /// writes user.password_changed. Answers the account as changed.
    caf::replies_to<atom::reset_confirm, request_context, std::string,
                    std::string>::with<account>,
    // -- outbox --------------------------------------------------------------
    /// Up to `limit` deliverable rows (not dead) with seq > `after`, by seq.
    caf::replies_to<atom::outbox_fetch, uint64_t,
                    uint32_t>::with<std::vector<event>>,
    /// (owner, limit, lease ms): relay `owner` (its instance id) renews the
    /// lease of every row it holds and claims up to `limit` more (0: renew
    /// only): rows no live lease holds, skipping rows another relay is
    /// claiming, each only if every earlier undelivered row of its key is
    /// the owner's. Answers the rows claimed now and the seqs of all rows it
    /// holds afterwards (a row missing there was taken over), both by seq.
    caf::replies_to<atom::outbox_claim, std::string, uint32_t,
                    int64_t>::with<std::vector<event>, std::vector<uint64_t>>,
    /// (owner): gives up every row the relay holds, at an orderly stop.
    caf::replies_to<atom::outbox_release, std::string>::with<caf::ok_atom>,
    /// Deletes delivered rows by seq (purges their payloads).
    caf::replies_to<atom::outbox_done,
                    std::vector<uint64_t>>::with<caf::ok_atom>,
    /// Records a failed attempt: (seq, error text, dead). A dead row is not
    /// fetched again and counts as dead in the status.
    caf::replies_to<atom::outbox_failed, uint64_t, std::string,
                    bool>::with<caf::ok_atom>,
    /// Pending and dead counts and the oldest pending row's age.
    caf::replies_to<atom::outbox, atom::status>::with<outbox_status>,
    // -- idempotency ---------------------------------------------------------
    /// (handler, event id): whether that handler finished that event (an
    /// unfinished claim does not count).
    caf::replies_to<atom::processed, std::string, std::string>::with<bool>,
    /// (handler, event id, owner, timeout ms): claims the event for handler
    /// instance `owner` before it works on it, atomically: true if claimed
    /// (new, its own, or a claim older than the timeout taken over), false
    /// if the handler finished it already, `deferred` while another instance
    /// holds it. Of several claimers at once exactly one gets true.
    caf::replies_to<atom::event_claim, std::string, std::string, std::string,
                    int64_t>::with<bool>,
    /// (handler, event id, owner): drops the owner's unfinished claim (after
    /// a failure, so that the retry claims it anew).
    caf::replies_to<atom::event_release, std::string, std::string,
                    std::string>::with<caf::ok_atom>,
    /// (handler, event id): records that the handler finished the event.
    caf::replies_to<atom::mark_processed, std::string,
                    std::string>::with<caf::ok_atom>,
    // -- throttling ----------------------------------------------------------
    /// In one transaction with the rules' rows locked: if any rule's key is
    /// blocked now, answers the longest remaining wait in seconds (> 0) and
    /// counts nothing (a throttled request costs its caller nothing and does
    /// not extend its block). Else counts one event on every rule (a key
    /// whose last event is at least `window` seconds old starts over at 1),
    /// blocks a key whose count reached its threshold until now +
    /// min(max_wait, increment * (count - threshold + 1)) and answers 0.
    /// Concurrent hits from any node count exactly. `invalid_argument` for
    /// no rules, more than 8, an empty or repeated key, threshold 0 or a
    /// negative time.
    caf::replies_to<atom::throttle_hit,
                    std::vector<throttle_rule>>::with<int64_t>,
    /// Takes back one event of each key (not below 0; a key's block is
    /// recomputed from its remaining count and the rule of its last hit;
    /// a key at 0 is forgotten): after a successful login, for the per-address
    /// key. Unknown keys are ignored. `invalid_argument` for no keys, more
    /// than 8 or an empty key.
    caf::replies_to<atom::throttle_undo,
                    std::vector<std::string>>::with<caf::ok_atom>,
    /// Forgets the keys' counts and blocks: after a successful login, for the
    /// per-email key. `invalid_argument` as for throttle_undo.
    caf::replies_to<atom::throttle_clear,
                    std::vector<std::string>>::with<caf::ok_atom>>;

} // namespace herald
