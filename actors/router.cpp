#include "actors/router.hpp"

#include <memory>


#include "actors/status.hpp"

namespace rpcbatch {

router_actor::behavior_type
router(router_actor::stateful_pointer<router_state> self,
       std::vector<batcher_actor> batchers) {
  self->state.batchers = std::move(batchers);
  self->state.routed.resize(self->state.batchers.size());
  return {
    [=](word_batch& batch) {
      auto& st = self->state;
      auto n = static_cast<uint32_t>(st.batchers.size());
      std::vector<word_batch> parts(n);
      for (auto& e : batch.elements)
        parts[bucket_of(e.word, n)].elements.push_back(std::move(e));
      for (uint32_t k = 0; k < n; ++k) {
        if (parts[k].elements.empty())
          continue;
        st.routed[k] += parts[k].elements.size();
        self->send(st.batchers[k], std::move(parts[k]));
      }
      ++st.batches;
    },
    [=](std::vector<batcher_actor>& batchers) {
      auto& st = self->state;
      if (batchers.size() == st.batchers.size())
        st.batchers = std::move(batchers);
    },
    [=](eow_atom) -> caf::result<uint64_t> {
      auto& st = self->state;
      ++st.end_of_windows;
      auto rp = self->make_response_promise<uint64_t>();
      struct tally {
        std::size_t pending;
        uint64_t flushed = 0;
      };
      auto t = std::make_shared<tally>(tally{st.batchers.size()});
      if (t->pending == 0)
        rp.deliver(uint64_t{0});
      for (auto& b : st.batchers)
        self->request(b, caf::infinite, eow_atom::value)
          .then(
            [=](uint64_t n) mutable {
              t->flushed += n;
              if (--t->pending == 0)
                rp.deliver(t->flushed);
            },
            [=](caf::error& err) mutable {
              if (--t->pending == 0)
                rp.deliver(t->flushed);
            });
      return rp;
    },
    [=](status_atom) {
      auto& st = self->state;
      boost::json::array routed;
      for (auto n : st.routed)
        routed.push_back(n);
      return status_json(self, {{"buckets", st.batchers.size()},
                                {"batches", st.batches},
                                {"routed_by_bucket", std::move(routed)},
                                {"end_of_windows", st.end_of_windows}});
    },
  };
}

} // namespace rpcbatch
