// ThreadSanitizer cannot see abseil's locks when abseil itself was not built with it, and
// Debian's is not: absl::Mutex, CondVar and Notification do their work inside
// libabsl_synchronization.so, so every access they guard would show as a race. Linked into
// each binary under --config=tsan (and exported from it), the functions below take the
// place of abseil's own (same symbols: the executable comes first in the dynamic linker's
// lookup), call them, and tell TSan what they did: a lock acquires the mutex, an unlock
// releases it, a wait releases and acquires it again, and a condition is evaluated under the
// mutex. Happens-before edges only (acquire/release), so TSan reports no lock-order or
// double-lock findings for these locks; the data races it finds are real.
#include <dlfcn.h>
#include <sanitizer/tsan_interface.h>

#include <cstdio>
#include <cstdlib>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"

namespace {

using absl::Condition;
using absl::CondVar;
using absl::Duration;
using absl::Mutex;
using absl::Notification;
using absl::Time;

// abseil's own definition of `symbol`, the next one after ours.
template <typename F>
F Real(const char* symbol) {
  void* f = dlsym(RTLD_NEXT, symbol);
  if (f == nullptr) {
    std::fprintf(stderr, "tsan annotations: no %s in abseil\n", symbol);
    std::abort();
  }
  return reinterpret_cast<F>(f);
}

// A condition whose evaluation first acquires the mutex it is evaluated under (abseil
// evaluates it with the mutex held, in the waiter or in the thread that unlocks, which reads
// the waiter's condition: Publish hands it over).
struct Guarded {
  Guarded(Mutex* mu, const Condition* cond) : mu(mu), cond(cond) { __tsan_release(this); }
  Mutex* mu;
  const Condition* cond;
  static bool Eval(Guarded* g) {
    __tsan_acquire(g);
    __tsan_acquire(g->mu);
    const bool met = g->cond->Eval();
    // A waiter whose condition is false lets the mutex go inside abseil, unseen: what the
    // evaluation read is published now, for whoever locks next.
    __tsan_release(g->mu);
    return met;
  }
};

}  // namespace

#define SWARM_TSAN_REAL(type, symbol) static const auto real = Real<type>(symbol)

// --- Mutex ---

extern "C" void MutexLock(Mutex* mu) __asm__("_ZN4absl7debian35Mutex4LockEv");
void MutexLock(Mutex* mu) {
  SWARM_TSAN_REAL(void (*)(Mutex*), "_ZN4absl7debian35Mutex4LockEv");
  real(mu);
  __tsan_acquire(mu);
}

extern "C" void MutexReaderLock(Mutex* mu) __asm__("_ZN4absl7debian35Mutex10ReaderLockEv");
void MutexReaderLock(Mutex* mu) {
  SWARM_TSAN_REAL(void (*)(Mutex*), "_ZN4absl7debian35Mutex10ReaderLockEv");
  real(mu);
  __tsan_acquire(mu);
}

extern "C" void MutexUnlock(Mutex* mu) __asm__("_ZN4absl7debian35Mutex6UnlockEv");
void MutexUnlock(Mutex* mu) {
  SWARM_TSAN_REAL(void (*)(Mutex*), "_ZN4absl7debian35Mutex6UnlockEv");
  __tsan_release(mu);
  real(mu);
}

extern "C" void MutexReaderUnlock(Mutex* mu) __asm__("_ZN4absl7debian35Mutex12ReaderUnlockEv");
void MutexReaderUnlock(Mutex* mu) {
  SWARM_TSAN_REAL(void (*)(Mutex*), "_ZN4absl7debian35Mutex12ReaderUnlockEv");
  __tsan_release(mu);
  real(mu);
}

extern "C" bool MutexTryLock(Mutex* mu) __asm__("_ZN4absl7debian35Mutex7TryLockEv");
bool MutexTryLock(Mutex* mu) {
  SWARM_TSAN_REAL(bool (*)(Mutex*), "_ZN4absl7debian35Mutex7TryLockEv");
  const bool locked = real(mu);
  if (locked) __tsan_acquire(mu);
  return locked;
}

extern "C" bool MutexReaderTryLock(Mutex* mu) __asm__("_ZN4absl7debian35Mutex13ReaderTryLockEv");
bool MutexReaderTryLock(Mutex* mu) {
  SWARM_TSAN_REAL(bool (*)(Mutex*), "_ZN4absl7debian35Mutex13ReaderTryLockEv");
  const bool locked = real(mu);
  if (locked) __tsan_acquire(mu);
  return locked;
}

// LockWhen and friends: locked on return, whatever they return.
#define SWARM_TSAN_LOCK_WHEN(name, symbol)                             \
  extern "C" void name(Mutex* mu, const Condition& c) __asm__(symbol); \
  void name(Mutex* mu, const Condition& c) {                           \
    SWARM_TSAN_REAL(void (*)(Mutex*, const Condition&), symbol);       \
    Guarded g(mu, &c);                                                 \
    real(mu, Condition(&Guarded::Eval, &g));                           \
    __tsan_acquire(mu);                                                \
  }
SWARM_TSAN_LOCK_WHEN(MutexLockWhen, "_ZN4absl7debian35Mutex8LockWhenERKNS0_9ConditionE")
SWARM_TSAN_LOCK_WHEN(MutexReaderLockWhen,
                     "_ZN4absl7debian35Mutex14ReaderLockWhenERKNS0_9ConditionE")

#define SWARM_TSAN_LOCK_WHEN_T(name, symbol, T)                             \
  extern "C" bool name(Mutex* mu, const Condition& c, T t) __asm__(symbol); \
  bool name(Mutex* mu, const Condition& c, T t) {                           \
    SWARM_TSAN_REAL(bool (*)(Mutex*, const Condition&, T), symbol);         \
    Guarded g(mu, &c);                                                      \
    const bool met = real(mu, Condition(&Guarded::Eval, &g), t);            \
    __tsan_acquire(mu);                                                     \
    return met;                                                             \
  }
SWARM_TSAN_LOCK_WHEN_T(
    MutexLockWhenWithTimeout,
    "_ZN4absl7debian35Mutex19LockWhenWithTimeoutERKNS0_9ConditionENS0_8DurationE", Duration)
SWARM_TSAN_LOCK_WHEN_T(MutexLockWhenWithDeadline,
                       "_ZN4absl7debian35Mutex20LockWhenWithDeadlineERKNS0_9ConditionENS0_4TimeE",
                       Time)
SWARM_TSAN_LOCK_WHEN_T(
    MutexReaderLockWhenWithTimeout,
    "_ZN4absl7debian35Mutex25ReaderLockWhenWithTimeoutERKNS0_9ConditionENS0_8DurationE", Duration)
SWARM_TSAN_LOCK_WHEN_T(
    MutexReaderLockWhenWithDeadline,
    "_ZN4absl7debian35Mutex26ReaderLockWhenWithDeadlineERKNS0_9ConditionENS0_4TimeE", Time)

// Await: the mutex is let go while waiting and held again on return.
extern "C" void MutexAwait(Mutex* mu, const Condition& c) __asm__(
    "_ZN4absl7debian35Mutex5AwaitERKNS0_9ConditionE");
void MutexAwait(Mutex* mu, const Condition& c) {
  SWARM_TSAN_REAL(void (*)(Mutex*, const Condition&),
                  "_ZN4absl7debian35Mutex5AwaitERKNS0_9ConditionE");
  Guarded g(mu, &c);
  __tsan_release(mu);
  real(mu, Condition(&Guarded::Eval, &g));
  __tsan_acquire(mu);
}

#define SWARM_TSAN_AWAIT_T(name, symbol, T)                                 \
  extern "C" bool name(Mutex* mu, const Condition& c, T t) __asm__(symbol); \
  bool name(Mutex* mu, const Condition& c, T t) {                           \
    SWARM_TSAN_REAL(bool (*)(Mutex*, const Condition&, T), symbol);         \
    Guarded g(mu, &c);                                                      \
    __tsan_release(mu);                                                     \
    const bool met = real(mu, Condition(&Guarded::Eval, &g), t);            \
    __tsan_acquire(mu);                                                     \
    return met;                                                             \
  }
SWARM_TSAN_AWAIT_T(MutexAwaitWithTimeout,
                   "_ZN4absl7debian35Mutex16AwaitWithTimeoutERKNS0_9ConditionENS0_8DurationE",
                   Duration)
SWARM_TSAN_AWAIT_T(MutexAwaitWithDeadline,
                   "_ZN4absl7debian35Mutex17AwaitWithDeadlineERKNS0_9ConditionENS0_4TimeE", Time)

// --- CondVar ---

extern "C" void CondVarWait(CondVar* cv,
                            Mutex* mu) __asm__("_ZN4absl7debian37CondVar4WaitEPNS0_5MutexE");
void CondVarWait(CondVar* cv, Mutex* mu) {
  SWARM_TSAN_REAL(void (*)(CondVar*, Mutex*), "_ZN4absl7debian37CondVar4WaitEPNS0_5MutexE");
  __tsan_release(mu);
  real(cv, mu);
  __tsan_acquire(mu);
}

#define SWARM_TSAN_CV_WAIT_T(name, symbol, T)                        \
  extern "C" bool name(CondVar* cv, Mutex* mu, T t) __asm__(symbol); \
  bool name(CondVar* cv, Mutex* mu, T t) {                           \
    SWARM_TSAN_REAL(bool (*)(CondVar*, Mutex*, T), symbol);          \
    __tsan_release(mu);                                              \
    const bool timed_out = real(cv, mu, t);                          \
    __tsan_acquire(mu);                                              \
    return timed_out;                                                \
  }
SWARM_TSAN_CV_WAIT_T(CondVarWaitWithTimeout,
                     "_ZN4absl7debian37CondVar15WaitWithTimeoutEPNS0_5MutexENS0_8DurationE",
                     Duration)
SWARM_TSAN_CV_WAIT_T(CondVarWaitWithDeadline,
                     "_ZN4absl7debian37CondVar16WaitWithDeadlineEPNS0_5MutexENS0_4TimeE", Time)

// --- Notification ---

extern "C" void NotificationNotify(Notification* n) __asm__(
    "_ZN4absl7debian312Notification6NotifyEv");
void NotificationNotify(Notification* n) {
  SWARM_TSAN_REAL(void (*)(Notification*), "_ZN4absl7debian312Notification6NotifyEv");
  __tsan_release(n);
  real(n);
}

extern "C" void NotificationWait(const Notification* n) __asm__(
    "_ZNK4absl7debian312Notification19WaitForNotificationEv");
void NotificationWait(const Notification* n) {
  SWARM_TSAN_REAL(void (*)(const Notification*),
                  "_ZNK4absl7debian312Notification19WaitForNotificationEv");
  real(n);
  __tsan_acquire(const_cast<Notification*>(n));
}

#define SWARM_TSAN_NOTIFICATION_WAIT_T(name, symbol, T)             \
  extern "C" bool name(const Notification* n, T t) __asm__(symbol); \
  bool name(const Notification* n, T t) {                           \
    SWARM_TSAN_REAL(bool (*)(const Notification*, T), symbol);      \
    const bool notified = real(n, t);                               \
    if (notified) __tsan_acquire(const_cast<Notification*>(n));     \
    return notified;                                                \
  }
SWARM_TSAN_NOTIFICATION_WAIT_T(
    NotificationWaitWithTimeout,
    "_ZNK4absl7debian312Notification30WaitForNotificationWithTimeoutENS0_8DurationE", Duration)
SWARM_TSAN_NOTIFICATION_WAIT_T(
    NotificationWaitWithDeadline,
    "_ZNK4absl7debian312Notification31WaitForNotificationWithDeadlineENS0_4TimeE", Time)

// Reports from inside the uninstrumented libraries (their own memory traffic, seen only
// through TSan's interceptors) say nothing about our code; nor do those whose racing access
// is in gRPC's header templates compiled into ours (race_top: the top frame only), on objects
// that gRPC's core hands between its threads unseen. The cost: a race of ours on a gRPC
// object itself (two threads writing one stream) would go unreported too.
extern "C" const char* __tsan_default_suppressions() {
  return "race_top:grpc::\n"
         "race_top:std::_Function_base::~_Function_base\n"
         // Read the call's deadline and metadata from the ServerContext gRPC's core filled in.
         "race_top:swarm::tracker_svc::TrackerServer::Service::Deadline\n"
         "race_top:swarm::rpc::AuthTokenMatches\n"
         "race_top:std::_Rb_tree<grpc::string_ref\n"
         // One pattern per library: TSan refuses a pattern that matches two. The generated
         // gRPC stubs hold gRPC's templates (their copies into gRPC's buffers).
         "called_from_lib:libproto_Slibcoordinator_Ucc_Ugrpc.so\n"
         "called_from_lib:libproto_Slibtracker_Ucc_Ugrpc.so\n"
         "called_from_lib:libproto_Slibpiece_Usink_Ucc_Ugrpc.so\n"
         "called_from_lib:libgrpc.so\n"
         "called_from_lib:libgrpc++.so\n"
         "called_from_lib:libgpr.so\n"
         "called_from_lib:libupb.so\n"
         "called_from_lib:libprotobuf.so\n"
         "called_from_lib:libre2.so\n"
         "called_from_lib:libcares.so\n"
         "called_from_lib:libssl.so\n"
         "called_from_lib:libcrypto.so\n"
         "called_from_lib:libabsl_synchronization.so\n"
         "called_from_lib:libabsl_graphcycles_internal.so\n"
         "called_from_lib:libabsl_base.so\n"
         "called_from_lib:libabsl_spinlock_wait.so\n"
         "called_from_lib:libabsl_malloc_internal.so\n"
         "called_from_lib:libabsl_cord.so\n"
         "called_from_lib:libabsl_cord_internal.so\n"
         "called_from_lib:libabsl_cordz_info.so\n"
         "called_from_lib:libabsl_cordz_handle.so\n"
         "called_from_lib:libabsl_status.so\n"
         "called_from_lib:libabsl_statusor.so\n"
         "called_from_lib:libabsl_raw_hash_set.so\n"
         "called_from_lib:libabsl_hashtablez_sampler.so\n"
         "called_from_lib:libabsl_time.so\n"
         "called_from_lib:libabsl_time_zone.so\n"
         "called_from_lib:libabsl_strings.so\n"
         "called_from_lib:libabsl_str_format_internal.so\n";
}
