// Reaching an actor published on another node without blocking the caller:
// CAF's middleman actor connects, and the handle is checked against the
// interface the caller expects. Node links use TLS when CAF's OpenSSL module
// is loaded (the openssl.* options). Failed attempts are retried with
// backoff.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <utility>

#include <caf/actor_cast.hpp>
#include <caf/io/middleman.hpp>
#include <caf/io/middleman_actor.hpp>
#include <caf/openssl/manager.hpp>
#include <caf/timespan.hpp>

#include "messages/actors.hpp"
#include "services/config/addresses.hpp"
#include "services/adapters/log.hpp"

namespace rpcbatch {

/// Connects to the actor published at `address` (HOST:PORT) and calls
/// `connected(Handle)`, or `failed(reason)`.
template <class Handle, class Self>
void connect_remote(Self* self, const std::string& address,
                    std::function<void(Handle)> connected,
                    std::function<void(std::string)> failed) {
  std::pair<std::string, int> where;
  try {
    where = split_host_port(address);
  } catch (const std::exception& e) {
    failed(e.what());
    return;
  }
  auto& sys = self->system();
  auto mm = sys.has_openssl_manager() ? sys.openssl_manager().actor_handle()
                                      : sys.middleman().actor_handle();
  self
    ->request(mm, std::chrono::seconds(10), caf::connect_atom::value,
              where.first, static_cast<uint16_t>(where.second))
    .then(
      [=](caf::node_id&, caf::strong_actor_ptr& ptr,
          std::set<std::string>& ifs) {
        if (ptr == nullptr)
          failed("nothing is published there");
        else if (!self->system().template assignable<Handle>(ifs))
          failed("it is not the kind of node expected there");
        else
          connected(caf::actor_cast<Handle>(std::move(ptr)));
      },
      [=](caf::error& err) { failed(self->system().render(err)); });
}

/// The delay before the next attempt: 1 s, then doubling up to 30 s.
inline caf::timespan next_backoff(caf::timespan previous) {
  using namespace std::chrono;
  if (previous < seconds(1))
    return duration_cast<caf::timespan>(seconds(1));
  return std::min(previous * 2, caf::timespan{duration_cast<caf::timespan>(
                                  seconds(30))});
}

/// Something could not be reached: grows `delay` to the next backoff, logs
/// `what` for `component` with it, and sends `xs...` to `self` after it.
template <class Self, class... Ts>
void reconnect_later(Self* self, caf::timespan& delay, const char* component,
                     const std::string& what, Ts&&... xs) {
  delay = next_backoff(delay);
  log::warn(component, what, "; trying again in ",
            std::chrono::duration_cast<std::chrono::milliseconds>(delay)
              .count(),
            " ms");
  self->delayed_send(self, delay, std::forward<Ts>(xs)...);
}

} // namespace rpcbatch
