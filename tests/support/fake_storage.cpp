#include "tests/support/fake_storage.hpp"

#include "messages/error.hpp"

namespace herald::test {

namespace {

caf::error unavailable() {
  return caf::make_error(ec::unavailable, std::string{"fake storage is down"});
}

caf::error missing(uint64_t id) {
  return caf::make_error(ec::not_found,
                         "no user with id " + std::to_string(id));
}

bool email_taken(const fake_store& s, const std::string& email, uint64_t id) {
  for (auto& [other, acc] : s.accounts)
    if (acc.profile.email == email && other != id)
      return true;
  return false;
}

} // namespace

storage_actor::behavior_type fake_storage(storage_actor::pointer,
                                          std::shared_ptr<fake_store> store) {
  return {
    [store](atom::create, new_account& x) -> caf::result<account> {
      if (store->down)
        return unavailable();
      ++store->creates;
      if (email_taken(*store, x.email, 0))
        return caf::make_error(ec::conflict,
                               std::string{"email is already registered"});
      account acc;
      acc.profile.id = store->next_id++;
      acc.profile.name = std::move(x.name);
      acc.profile.email = std::move(x.email);
      acc.profile.role = std::move(x.role);
      acc.profile.created_at = acc.profile.updated_at = 1700000000;
      acc.password_hash = std::move(x.password_hash);
      store->accounts[acc.profile.id] = acc;
      return acc;
    },
    [store](atom::get, uint64_t id) -> caf::result<account> {
      if (store->down)
        return unavailable();
      auto i = store->accounts.find(id);
      if (i == store->accounts.end())
        return missing(id);
      return i->second;
    },
    [store](atom::get, atom::by_email,
            const std::string& email) -> caf::result<account> {
      if (store->down)
        return unavailable();
      for (auto& [id, acc] : store->accounts)
        if (acc.profile.email == email)
          return acc;
      return caf::make_error(ec::not_found, std::string{"no user with email"});
    },
    [store](atom::list, uint32_t page,
            uint32_t per_page) -> caf::result<user_page> {
      if (store->down)
        return unavailable();
      user_page result;
      result.page = page;
      result.per_page = per_page;
      result.total = store->accounts.size();
      uint64_t skip = uint64_t{page - 1} * per_page;
      for (auto& [id, acc] : store->accounts) {
        if (skip > 0) {
          --skip;
          continue;
        }
        if (result.items.size() == per_page)
          break;
        result.items.push_back(acc.profile);
      }
      return result;
    },
    [store](atom::update, uint64_t id,
            account_patch& p) -> caf::result<account> {
      if (store->down)
        return unavailable();
      ++store->updates;
      auto i = store->accounts.find(id);
      if (i == store->accounts.end())
        return missing(id);
      if (p.set_email && email_taken(*store, p.email, id))
        return caf::make_error(ec::conflict,
                               std::string{"email is already registered"});
      auto& acc = i->second;
      if (p.set_name)
        acc.profile.name = p.name;
      if (p.set_email)
        acc.profile.email = p.email;
      if (p.set_role)
        acc.profile.role = p.role;
      if (p.set_password_hash)
        acc.password_hash = p.password_hash;
      if (p.bump_token_version)
        ++acc.profile.token_version;
      acc.profile.updated_at += 1;
      return acc;
    },
    [store](atom::remove, uint64_t id) -> caf::result<caf::ok_atom> {
      if (store->down)
        return unavailable();
      if (store->accounts.erase(id) == 0)
        return missing(id);
      return caf::ok_atom_v;
    },
    [store](atom::status) -> caf::result<storage_status> {
      if (store->down)
        return unavailable();
      return storage_status{"memory", "ok", store->accounts.size()};
    },
  };
}

} // namespace herald::test
