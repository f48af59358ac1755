// TrainOptions: the option enums' names, validation and JSON form.
#include "difftriage/train/options.h"

#include <array>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <utility>

#include "difftriage/core/enum_words.h"
#include "difftriage/core/error.h"

namespace difftriage::train {
namespace {

// One table per enum: the word on the command line and in JSON, and the value.
constexpr std::array<std::pair<const char*, Schedule>, 2> kScheduleTable = {
    {{"constant", Schedule::kConstant}, {"cosine", Schedule::kCosine}}};
constexpr std::array<std::pair<const char*, Device>, 3> kDeviceTable = {
    {{"auto", Device::kAuto}, {"cpu", Device::kCpu}, {"cuda", Device::kCuda}}};
constexpr std::array<std::pair<const char*, Balance>, 3> kBalanceTable = {
    {{"pos-weight", Balance::kPosWeight},
     {"sampler", Balance::kSampler},
     {"none", Balance::kNone}}};

constexpr std::array<std::pair<const char*, DistBackend>, 2> kDistBackendTable = {
    {{"gloo", DistBackend::kGloo}, {"nccl", DistBackend::kNccl}}};

// A value outside the enum (a cast integer) has no name.
template <typename Enum, size_t N>
void check_known(Enum value, const char* field,
                 const EnumWords<Enum, N>& table) {
  DT_CHECK(std::string(enum_word(value, table)) != "?", ConfigError, field,
           ": not a known value (", static_cast<int>(value), ")");
}

}  // namespace

const char* schedule_name(Schedule schedule) noexcept {
  return enum_word(schedule, kScheduleTable);
}
const char* device_name(Device device) noexcept { return enum_word(device, kDeviceTable); }
const char* balance_name(Balance balance) noexcept { return enum_word(balance, kBalanceTable); }
const char* dist_backend_name(DistBackend backend) noexcept {
  return enum_word(backend, kDistBackendTable);
}

Schedule parse_schedule(const std::string& word, const std::string& option) {
  return parse_enum_word(word, option, kScheduleTable);
}
Device parse_device(const std::string& word, const std::string& option) {
  return parse_enum_word(word, option, kDeviceTable);
}
Balance parse_balance(const std::string& word, const std::string& option) {
  return parse_enum_word(word, option, kBalanceTable);
}
DistBackend parse_dist_backend(const std::string& word, const std::string& option) {
  return parse_enum_word(word, option, kDistBackendTable);
}

namespace {

// The integer in environment variable `name` (decimal digits only), in [lo, hi].
int env_integer(const std::string& name, const std::string& value, long lo, long hi) {
  bool digits = !value.empty() && value.size() <= 9;
  for (char c : value) digits = digits && c >= '0' && c <= '9';
  DT_CHECK(digits, ConfigError, "environment variable ", name, "='", value,
           "' is not a non-negative integer");
  const long v = std::strtol(value.c_str(), nullptr, 10);
  DT_CHECK(v >= lo && v <= hi, ConfigError, "environment variable ", name, "=", value,
           " is out of range ", lo, "..", hi);
  return static_cast<int>(v);
}

}  // namespace

DistributedOptions distributed_from_environment(
    const std::function<std::optional<std::string>(const std::string&)>& lookup,
    DistributedOptions base) {
  DistributedOptions d = std::move(base);
  d.enabled = true;
  const auto rank = lookup("RANK");
  const auto world = lookup("WORLD_SIZE");
  std::string rank_name = "RANK", world_name = "WORLD_SIZE";
  std::optional<std::string> rank_value = rank, world_value = world;
  bool torchrun = true;
  if (!rank && !world) {
    rank_value = lookup("OMPI_COMM_WORLD_RANK");
    world_value = lookup("OMPI_COMM_WORLD_SIZE");
    rank_name = "OMPI_COMM_WORLD_RANK";
    world_name = "OMPI_COMM_WORLD_SIZE";
    torchrun = false;
    if (!rank_value && !world_value) {
      // MPICH's and Intel MPI's launchers (Hydra).
      rank_value = lookup("PMI_RANK");
      world_value = lookup("PMI_SIZE");
      rank_name = "PMI_RANK";
      world_name = "PMI_SIZE";
    }
    DT_CHECK(rank_value || world_value, ConfigError,
             "distributed: no rank in the environment: set RANK, WORLD_SIZE, MASTER_ADDR and "
             "MASTER_PORT (torchrun style) or start the ranks with mpirun "
             "(OMPI_COMM_WORLD_RANK/OMPI_COMM_WORLD_SIZE, or MPICH's PMI_RANK/PMI_SIZE)");
  }
  DT_CHECK(rank_value, ConfigError, "distributed: environment variable ", rank_name,
           " is not set (", world_name, " is)");
  DT_CHECK(world_value, ConfigError, "distributed: environment variable ", world_name,
           " is not set (", rank_name, " is)");
  d.world_size = env_integer(world_name, *world_value, 1, 1 << 20);
  d.rank = env_integer(rank_name, *rank_value, 0, (1 << 20) - 1);
  DT_CHECK(d.rank < d.world_size, ConfigError, "environment variable ", rank_name, "=", d.rank,
           " is not below ", world_name, "=", d.world_size);
  const auto addr = lookup("MASTER_ADDR");
  const auto port = lookup("MASTER_PORT");
  if (torchrun) {
    DT_CHECK(addr, ConfigError,
             "distributed: environment variable MASTER_ADDR (host of rank 0) is not set");
    DT_CHECK(port, ConfigError,
             "distributed: environment variable MASTER_PORT (rendezvous port on rank 0) is not "
             "set");
  }
  if (addr) {
    DT_CHECK(!addr->empty() && addr->find_first_of(" \t\n/") == std::string::npos, ConfigError,
             "environment variable MASTER_ADDR='", *addr, "' is not a host name or address");
    d.master_addr = *addr;
  } else {
    d.master_addr = "127.0.0.1";
  }
  d.master_port = port ? env_integer("MASTER_PORT", *port, 1, 65535) : kDefaultMasterPort;
  if (const auto ifname = lookup("GLOO_SOCKET_IFNAME")) d.interface = *ifname;
  return d;
}

nlohmann::json to_json(const TrainOptions& o) {
  nlohmann::json data = nlohmann::json::array();
  for (const auto& d : o.data) data.push_back(d.string());
  const auto meta = models::to_json(o.model);
  return {{"data", data},
          {"val", o.val.string()},
          {"val_fraction", o.val.empty() ? o.val_fraction : 0.0},
          {"out", o.out.string()},
          {"architecture", meta.at("architecture")},
          {"heads", meta.at("heads")},
          {"preprocess", meta.at("preprocess")},
          {"epochs", o.epochs},
          {"batch", o.batch_size},
          {"lr", o.lr},
          {"weight_decay", o.weight_decay},
          {"seed", o.seed},
          {"threads", o.n_threads},
          {"workers", o.n_workers},
          {"device", device_name(o.device)},
          {"balance", balance_name(o.balance)},
          {"augment", o.augment},
          {"augment_gain", o.augment_gain},
          {"augment_offset", o.augment_offset},
          {"init", o.init.string()},
          {"freeze_blocks", o.freeze_blocks},
          {"patience", o.patience},
          {"resume", o.resume},
          {"cache", o.cache},
          {"cache_max_bytes", o.cache_max_bytes},
          {"tune_thresholds", o.tune_thresholds},
          {"plots", o.plots},
          {"grad_accumulation", o.grad_accumulation},
          {"distributed",
           o.distributed.enabled
               ? nlohmann::json{{"world_size", o.distributed.world_size},
                                {"backend", dist_backend_name(o.distributed.backend)},
                                {"master_addr", o.distributed.master_addr},
                                {"master_port", o.distributed.master_port},
                                {"timeout_s", o.distributed.timeout_s}}
               : nlohmann::json(false)},
          {"command", o.command}};
}

void validate(const TrainOptions& o) {
  DT_CHECK(!o.data.empty(), ConfigError, "data: at least one training folder is required");
  DT_CHECK(!o.out.empty(), ConfigError, "out: a run folder is required");
  DT_CHECK(o.epochs >= 1, ConfigError, "epochs must be >= 1, got ", o.epochs);
  DT_CHECK(o.batch_size >= 1 && o.batch_size <= 65536, ConfigError,
           "batch_size must be in 1..65536, got ", o.batch_size);
  DT_CHECK(std::isfinite(o.lr) && o.lr > 0 && o.lr < 10, ConfigError,
           "lr must be in (0, 10), got ", o.lr);
  check_known(o.schedule, "schedule", kScheduleTable);
  DT_CHECK(std::isfinite(o.weight_decay) && o.weight_decay >= 0, ConfigError,
           "weight_decay must be >= 0, got ", o.weight_decay);
  DT_CHECK(std::isfinite(o.val_fraction) && o.val_fraction >= 0 && o.val_fraction <= 0.9,
           ConfigError, "val_fraction must be in [0, 0.9], got ", o.val_fraction);
  DT_CHECK(o.n_threads >= 1 && o.n_threads <= 1024, ConfigError,
           "n_threads must be in 1..1024, got ", o.n_threads);
  DT_CHECK(o.n_workers >= 0 && o.n_workers <= 256, ConfigError,
           "n_workers must be in 0..256, got ", o.n_workers);
  check_known(o.device, "device", kDeviceTable);
  check_known(o.balance, "balance", kBalanceTable);
  DT_CHECK(std::isfinite(o.augment_gain) && o.augment_gain >= 1.0 && o.augment_gain <= 10.0,
           ConfigError, "augment_gain must be in [1, 10], got ", o.augment_gain);
  DT_CHECK(std::isfinite(o.augment_offset) && o.augment_offset >= 0 && o.augment_offset <= 10,
           ConfigError, "augment_offset must be in [0, 10], got ", o.augment_offset);
  DT_CHECK(o.freeze_blocks >= 0, ConfigError, "freeze_blocks must be >= 0, got ",
           o.freeze_blocks);
  DT_CHECK(o.freeze_blocks == 0 || !o.init.empty() || o.resume, ConfigError,
           "freeze_blocks needs init (freezing random weights is pointless)");
  DT_CHECK(o.patience >= 0, ConfigError, "patience must be >= 0, got ", o.patience);
  DT_CHECK(o.grad_accumulation >= 1 && o.grad_accumulation <= 65536, ConfigError,
           "grad_accumulation must be in 1..65536, got ", o.grad_accumulation);
  const auto& d = o.distributed;
  if (d.enabled) {
    check_known(d.backend, "distributed.backend", kDistBackendTable);
    DT_CHECK(d.world_size >= 1, ConfigError, "distributed.world_size must be >= 1, got ",
             d.world_size);
    DT_CHECK(d.rank >= 0 && d.rank < d.world_size, ConfigError, "distributed.rank must be in 0..",
             d.world_size - 1, ", got ", d.rank);
    DT_CHECK(d.master_port >= 1 && d.master_port <= 65535, ConfigError,
             "distributed.master_port must be in 1..65535, got ", d.master_port);
    DT_CHECK(!d.master_addr.empty(), ConfigError, "distributed.master_addr is empty");
    DT_CHECK(std::isfinite(d.timeout_s) && d.timeout_s > 0 && d.timeout_s <= 86400, ConfigError,
             "distributed.timeout_s must be in (0, 86400] seconds, got ", d.timeout_s);
  }
  DT_CHECK(o.model.heads.size() >= 1, ConfigError, "model.heads: at least one head is required");
  try {
    models::validate(o.model.architecture);
    models::validate(o.model.preprocess);
    for (const auto& h : o.model.heads) (void)models::head_output_size(h);
  } catch (const ConfigError& e) {
    throw ConfigError(std::string("model: ") + e.what());
  }
}

}  // namespace difftriage::train
