#include "services/tools/embedded_broker.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <set>
#include <stdexcept>
#include <utility>

#include <arpa/inet.h>
#include <dlfcn.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include "services/config/addresses.hpp"
#include "services/adapters/kafka.hpp"

namespace rpcbatch {

namespace {

constexpr int max_brokers = 16;
constexpr int max_partitions = 1024;
constexpr const char* component = "embedded-broker";

/// Kafka's rule: 1 to 249 of [A-Za-z0-9._-], and neither "." nor "..".
bool legal_topic_name(const std::string& name) {
  if (name.empty() || name.size() > 249 || name == "." || name == "..")
    return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
           || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
  });
}

topic_spec parse_topic(const std::string& item) {
  auto colon = item.rfind(':');
  if (colon == std::string::npos)
    throw cli_error("topic '" + item + "' needs a partition count: NAME:N");
  topic_spec topic{item.substr(0, colon), 0};
  if (!legal_topic_name(topic.name))
    throw cli_error("illegal topic name '" + topic.name
                    + "' (1 to 249 of A-Z a-z 0-9 . _ -)");
  auto count = item.substr(colon + 1);
  char* end = nullptr;
  auto n = std::strtol(count.c_str(), &end, 10);
  if (count.empty() || *end != '\0' || n < 1 || n > max_partitions)
    throw cli_error("topic '" + topic.name + "' needs 1 to "
                    + std::to_string(max_partitions) + " partitions, got '"
                    + count + "'");
  topic.partitions = static_cast<int>(n);
  return topic;
}

/// The Kafka protocol's API key of Produce requests.
constexpr int16_t produce_api_key = 0;

/// Routes the mock's own log lines into rpcbatch::log.
void log_line(const rd_kafka_t*, int level, const char* fac, const char* buf) {
  log_kafka_line(component, level, fac, buf);
}

// -- listening on given ports and addresses -----------------------------------
//
// librdkafka's mock brokers (2.0.2, and every later release as of 2.15)
// listen on 127.0.0.1:0, a port the system picks, and advertise that
// address; no property or call sets either: rd_kafka_mock_cluster_new()
// creates broker 1, 2, ... in order on the calling thread, each with
// socket(), setsockopt(SO_REUSEADDR), bind() to 127.0.0.1:0, getsockname()
// (whose address becomes the broker's advertised host and port) and
// listen(). The hooks a process has are bind() and getsockname(): this
// file defines them, so that the dynamic linker resolves librdkafka's calls
// (and every other library's) to them; they hand every call on to the C
// library unchanged, except on a thread that is creating a mock cluster
// (listen_ports below): there the loopback binds to port 0 bind the listen
// address and the next of the given ports instead, and getsockname() of
// such a socket reports the advertised address. A port that cannot be
// bound is bound as port 0 after all (librdkafka 2.0.2 would crash on a
// failed bind, destroying the half-made cluster) and reported: start()
// then destroys the cluster and throws.

/// Where the current thread's next mock brokers listen and what they
/// advertise.
struct wanted_ports {
  /// Off: every call goes to the C library unchanged.
  bool active = false;
  /// The ports, in order (nullptr: port 0, any).
  const std::vector<int>* ports = nullptr;
  std::size_t next = 0;
  /// IPv4 addresses in network byte order.
  in_addr_t listen = 0;
  in_addr_t advertised = 0;
  /// The sockets bound so far, whose getsockname() reports `advertised`.
  std::vector<int> bound;
  /// The first port that could not be bound, and why (errno).
  int failed_port = 0;
  int error = 0;
};

thread_local wanted_ports wanted;

/// Sets `wanted` for the lifetime of the object.
class listen_ports {
public:
  listen_ports(const std::vector<int>& ports, in_addr_t listen,
               in_addr_t advertised) {
    wanted = wanted_ports{};
    wanted.active = true;
    wanted.ports = ports.empty() ? nullptr : &ports;
    wanted.listen = listen;
    wanted.advertised = advertised;
  }

  ~listen_ports() {
    wanted = wanted_ports{};
  }

  listen_ports(const listen_ports&) = delete;
  listen_ports& operator=(const listen_ports&) = delete;
};

using bind_function = int (*)(int, const sockaddr*, socklen_t);

bind_function next_bind() {
  static auto next = reinterpret_cast<bind_function>(dlsym(RTLD_NEXT,
                                                           "bind"));
  return next;
}

using getsockname_function = int (*)(int, sockaddr*, socklen_t*);

getsockname_function next_getsockname() {
  static auto next = reinterpret_cast<getsockname_function>(
    dlsym(RTLD_NEXT, "getsockname"));
  return next;
}

} // namespace

} // namespace rpcbatch

// Exported whatever the build's default visibility (clang builds hide
// symbols, see CMakeLists.txt): librdkafka must resolve bind() to it.
extern "C" __attribute__((visibility("default"))) int
bind(int fd, const sockaddr* addr, socklen_t len) {
  using rpcbatch::wanted;
  auto real = rpcbatch::next_bind();
  if (real == nullptr) {
    errno = ENOSYS;
    return -1;
  }
  if (!wanted.active || addr == nullptr || addr->sa_family != AF_INET
      || len < static_cast<socklen_t>(sizeof(sockaddr_in)))
    return real(fd, addr, len);
  sockaddr_in in;
  std::memcpy(&in, addr, sizeof(in));
  if (in.sin_port != 0 || in.sin_addr.s_addr != htonl(INADDR_LOOPBACK))
    return real(fd, addr, len);
  int port = 0;
  if (wanted.ports != nullptr && wanted.next < wanted.ports->size())
    port = (*wanted.ports)[wanted.next++];
  in.sin_port = htons(static_cast<uint16_t>(port));
  in.sin_addr.s_addr = wanted.listen;
  if (real(fd, reinterpret_cast<const sockaddr*>(&in), sizeof(in)) == 0) {
    wanted.bound.push_back(fd);
    return 0;
  }
  if (wanted.failed_port == 0) {
    wanted.failed_port = port;
    wanted.error = errno;
  }
  return real(fd, addr, len);
}

extern "C" __attribute__((visibility("default"))) int
getsockname(int fd, sockaddr* addr, socklen_t* len) {
  using rpcbatch::wanted;
  auto real = rpcbatch::next_getsockname();
  if (real == nullptr) {
    errno = ENOSYS;
    return -1;
  }
  auto result = real(fd, addr, len);
  if (result != 0 || !wanted.active || addr == nullptr
      || addr->sa_family != AF_INET
      || *len < static_cast<socklen_t>(sizeof(sockaddr_in))
      || std::find(wanted.bound.begin(), wanted.bound.end(), fd)
           == wanted.bound.end())
    return result;
  sockaddr_in in;
  std::memcpy(&in, addr, sizeof(in));
  in.sin_addr.s_addr = wanted.advertised;
  std::memcpy(addr, &in, sizeof(in));
  return result;
}

namespace rpcbatch {

namespace {

/// The port of every "HOST:PORT" of a bootstrap string.
std::vector<int> ports_of(const std::string& bootstrap) {
  std::vector<int> out;
  for (auto& address : split_address_list(bootstrap))
    out.push_back(split_host_port(address).second);
  return out;
}

/// "a.b.c.d" as an IPv4 address in network byte order; throws
/// std::invalid_argument otherwise.
in_addr_t ipv4_address(const std::string& text) {
  in_addr out;
  if (inet_pton(AF_INET, text.c_str(), &out) != 1)
    throw std::invalid_argument("embedded broker: not an IPv4 address: '"
                                + text + "'");
  return out.s_addr;
}

/// An IPv4 address, or the first IPv4 address of a host name; throws
/// std::runtime_error if the name does not resolve.
in_addr_t resolve_ipv4(const std::string& host) {
  in_addr direct;
  if (inet_pton(AF_INET, host.c_str(), &direct) == 1)
    return direct.s_addr;
  addrinfo hints{};
  hints.ai_family = AF_INET;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  auto rc = getaddrinfo(host.c_str(), nullptr, &hints, &found);
  if (rc != 0 || found == nullptr)
    throw std::runtime_error("embedded broker: cannot resolve the advertised "
                             "host '" + host + "': " + gai_strerror(rc));
  sockaddr_in in;
  std::memcpy(&in, found->ai_addr, sizeof(in));
  freeaddrinfo(found);
  return in.sin_addr.s_addr;
}

std::string address_text(in_addr_t ip) {
  char text[INET_ADDRSTRLEN] = "?";
  in_addr in;
  in.s_addr = ip;
  inet_ntop(AF_INET, &in, text, sizeof text);
  return text;
}

} // namespace

std::vector<int> parse_ports(const std::string& text) {
  std::vector<int> result;
  if (text.empty())
    return result;
  std::string::size_type start = 0;
  for (;;) {
    auto comma = text.find(',', start);
    auto item = text.substr(start, comma == std::string::npos
                                     ? std::string::npos
                                     : comma - start);
    char* end = nullptr;
    auto n = std::strtol(item.c_str(), &end, 10);
    if (item.empty() || *end != '\0' || n < 1 || n > 65535)
      throw cli_error("bad port '" + item + "' (1 to 65535)");
    if (std::find(result.begin(), result.end(), n) != result.end())
      throw cli_error("port " + item + " given twice");
    result.push_back(static_cast<int>(n));
    if (comma == std::string::npos)
      return result;
    start = comma + 1;
  }
}

std::vector<topic_spec> parse_topics(const std::string& text) {
  std::vector<topic_spec> result;
  if (text.empty())
    return result;
  std::set<std::string> seen;
  std::string::size_type start = 0;
  for (;;) {
    auto comma = text.find(',', start);
    auto item = text.substr(start, comma == std::string::npos
                                     ? std::string::npos
                                     : comma - start);
    auto topic = parse_topic(item);
    if (!seen.insert(topic.name).second)
      throw cli_error("topic '" + topic.name + "' given twice");
    result.push_back(std::move(topic));
    if (comma == std::string::npos)
      return result;
    start = comma + 1;
  }
}

/// The librdkafka objects: a handle that the mock cluster needs for its
/// bookkeeping (it never connects anywhere) and the cluster itself.
struct embedded_broker::cluster {
  rd_kafka_t* handle = nullptr;
  rd_kafka_mock_cluster_t* mock = nullptr;

  ~cluster() {
    if (mock)
      rd_kafka_mock_cluster_destroy(mock);
    if (handle)
      rd_kafka_destroy(handle);
  }
};

embedded_broker::embedded_broker(int brokers, std::vector<topic_spec> topics,
                                 std::vector<int> ports,
                                 broker_address address)
  : listen_ip_(ipv4_address(address.listen_host)),
    advertised_ip_(address.advertised_host.empty()
                     ? listen_ip_
                     : resolve_ipv4(address.advertised_host)),
    brokers_(brokers) {
  if (advertised_ip_ == htonl(INADDR_ANY))
    throw std::invalid_argument("embedded broker: brokers that listen on "
                                "0.0.0.0 need an advertised host that "
                                "clients can connect to");
  if (brokers < 1 || brokers > max_brokers)
    throw std::invalid_argument("embedded broker: 1 to "
                                + std::to_string(max_brokers)
                                + " brokers, got " + std::to_string(brokers));
  if (!ports.empty() && ports.size() != static_cast<std::size_t>(brokers))
    throw std::invalid_argument("embedded broker: " + std::to_string(brokers)
                                + " broker(s) need as many ports, got "
                                + std::to_string(ports.size()));
  for (auto port : ports)
    if (port < 1 || port > 65535)
      throw std::invalid_argument("embedded broker: bad port "
                                  + std::to_string(port));
  cluster_ = start(ports);
  for (auto& topic : topics)
    create_topic(topic);
}

std::unique_ptr<embedded_broker::cluster>
embedded_broker::start(const std::vector<int>& ports) const {
  auto out = std::make_unique<cluster>();
  char err[512];
  auto* conf = rd_kafka_conf_new();
  // Warnings and worse only: the handle has no bootstrap.servers on purpose
  // and librdkafka would say so at notice level.
  if (rd_kafka_conf_set(conf, "log_level", "4", err, sizeof err)
      != RD_KAFKA_CONF_OK) {
    rd_kafka_conf_destroy(conf);
    throw std::runtime_error(std::string{"embedded broker: log_level: "}
                             + err);
  }
  rd_kafka_conf_set_log_cb(conf, log_line);
  // On success rd_kafka_new takes ownership of conf, on failure not.
  out->handle = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
  if (!out->handle) {
    rd_kafka_conf_destroy(conf);
    throw std::runtime_error(std::string{"embedded broker: "} + err);
  }
  wanted_ports result;
  {
    listen_ports on{ports, listen_ip_, advertised_ip_};
    out->mock = rd_kafka_mock_cluster_new(out->handle, brokers_);
    result = wanted;
  }
  if (!out->mock)
    throw std::runtime_error("embedded broker: cannot start the mock cluster"
                             " (no free loopback ports?)");
  if (result.failed_port != 0)
    throw std::runtime_error("embedded broker: cannot listen on "
                             + address_text(listen_ip_) + ":"
                             + std::to_string(result.failed_port) + ": "
                             + std::strerror(result.error));
  if (!ports.empty() && ports_of(rd_kafka_mock_cluster_bootstraps(out->mock))
                          != ports)
    throw std::runtime_error(std::string{"embedded broker: the mock cluster "
                                         "did not take the ports given: "}
                             + rd_kafka_mock_cluster_bootstraps(out->mock));
  return out;
}

embedded_broker::~embedded_broker() = default;

std::string embedded_broker::bootstrap() const {
  return rd_kafka_mock_cluster_bootstraps(cluster_->mock);
}

std::vector<int> embedded_broker::ports() const {
  return ports_of(bootstrap());
}

void embedded_broker::restart() {
  auto ports = this->ports();
  // A broker that is down closes its connections and its listening socket;
  // it binds its port again at once, without listening, which does not
  // keep the new broker (SO_REUSEADDR too) from listening there.
  auto old = std::move(cluster_);
  for (int id = 1; id <= brokers_; ++id)
    rd_kafka_mock_broker_set_down(old->mock, id);
  try {
    cluster_ = start(ports);
  } catch (...) {
    for (int id = 1; id <= brokers_; ++id)
      rd_kafka_mock_broker_set_up(old->mock, id);
    cluster_ = std::move(old);
    throw;
  }
  stopped_.push_back(std::move(old));
  auto topics = std::exchange(topics_, {});
  for (auto& topic : topics)
    create_topic(topic);
}

void embedded_broker::create_topic(const topic_spec& topic) {
  if (topic.partitions < 1 || topic.partitions > max_partitions)
    throw std::invalid_argument("embedded broker: topic '" + topic.name
                                + "' needs 1 to "
                                + std::to_string(max_partitions)
                                + " partitions");
  auto replicas = std::min(3, brokers_);
  auto err = rd_kafka_mock_topic_create(cluster_->mock, topic.name.c_str(),
                                        topic.partitions, replicas);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR)
    throw std::runtime_error("embedded broker: cannot create topic '"
                             + topic.name + "': " + rd_kafka_err2str(err));
  topics_.push_back(topic);
}

void embedded_broker::fail_produce_requests(int count, int error,
                                            int broker) {
  if (count < 0 || broker < 0 || broker > brokers_)
    throw std::invalid_argument("embedded broker: cannot fail "
                                + std::to_string(count)
                                + " Produce request(s) on broker "
                                + std::to_string(broker));
  auto err = static_cast<rd_kafka_resp_err_t>(error);
  if (broker == 0) {
    std::vector<rd_kafka_resp_err_t> errors(static_cast<std::size_t>(count),
                                            err);
    rd_kafka_mock_push_request_errors_array(cluster_->mock, produce_api_key,
                                            errors.size(), errors.data());
    return;
  }
  // One (error, response delay in ms) pair at a time: the call is variadic.
  for (int i = 0; i < count; ++i)
    rd_kafka_mock_broker_push_request_error_rtts(cluster_->mock, broker,
                                                 produce_api_key, 1, err, 0);
}

void embedded_broker::delay_produce_requests(int count,
                                             std::chrono::milliseconds delay,
                                             int broker) {
  if (count < 0 || broker < 1 || broker > brokers_ || delay.count() < 0)
    throw std::invalid_argument("embedded broker: cannot delay "
                                + std::to_string(count)
                                + " Produce request(s) on broker "
                                + std::to_string(broker));
  for (int i = 0; i < count; ++i)
    rd_kafka_mock_broker_push_request_error_rtts(
      cluster_->mock, broker, produce_api_key, 1, RD_KAFKA_RESP_ERR_NO_ERROR,
      static_cast<int>(delay.count()));
}

std::size_t embedded_broker::pending_produce_errors(int broker) const {
  std::size_t n = 0;
  if (rd_kafka_mock_broker_error_stack_cnt(cluster_->mock, broker,
                                           produce_api_key, &n)
      != RD_KAFKA_RESP_ERR_NO_ERROR)
    return 0;
  return n;
}

void embedded_broker::set_leader(const std::string& topic, int partition,
                                 int broker) {
  auto err = rd_kafka_mock_partition_set_leader(cluster_->mock, topic.c_str(),
                                                partition, broker);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR)
    throw std::runtime_error("embedded broker: cannot move " + topic + "["
                             + std::to_string(partition) + "] to broker "
                             + std::to_string(broker) + ": "
                             + rd_kafka_err2str(err));
}

} // namespace rpcbatch
