//! What a waiter has learnt about its calls and about its machine, and the plan it draws from
//! that for its next wait. Pure logic: no clock, no system call; every time is in nanoseconds,
//! handed in by the caller. See the module docs of `wait` for the design this implements.

/// How many recent call durations the prediction looks at.
pub(super) const WINDOW: usize = 4;

/// The shortest nap worth taking: below it, the system call and the two context switches of
/// a nap (a few microseconds of CPU) save too little spinning, and the nap's own jitter
/// matters more than what it saves.
pub(super) const MIN_NAP: u64 = 20_000;

/// The longest call a nap plans for. A longer call sleeps without a time-out: its wake-up
/// (≈ 0.1 ms) is at most 1 % of it, and the prediction of a gap that long is too loose to
/// end a nap within microseconds of the answer.
pub(super) const NAP_HORIZON: u64 = 10_000_000;

/// How early, before the predicted answer, a nap's spin must start besides the nap's own
/// lateness: 2 µs, plus 1/128 of the call for the jitter of the call itself (the prediction is
/// the shortest recent call, so most calls last longer than predicted, not shorter).
pub(super) fn margin(call: u64) -> u64 {
    2_000 + call / 128
}

/// A running estimate of a cost that varies from one sample to the next: the mean and the
/// mean absolute deviation, each moving 1/8 of the way to every new sample.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Estimate {
    mean: u64,
    deviation: u64,
    samples: u64,
}

impl Estimate {
    /// Adds `sample`, first clamped to `cap` (a single outlier moves the mean at most
    /// `cap / 8`).
    pub(super) fn add(&mut self, sample: u64, cap: u64) {
        let sample = sample.min(cap);
        if self.samples == 0 {
            // One sample says nothing of the spread: assume a wide one.
            self.mean = sample;
            self.deviation = sample / 4;
        } else {
            let distance = sample.abs_diff(self.mean);
            self.mean = if sample > self.mean {
                self.mean + distance / 8
            } else {
                self.mean - distance / 8
            };
            self.deviation = if distance > self.deviation {
                self.deviation + (distance - self.deviation) / 8
            } else {
                self.deviation - (self.deviation - distance) / 8
            };
        }
        self.samples = self.samples.saturating_add(1);
    }

    /// The mean, `None` before the first sample.
    pub(super) fn mean(&self) -> Option<u64> {
        (self.samples > 0).then_some(self.mean)
    }

    /// A value most samples stay below: the mean plus twice the deviation.
    pub(super) fn high(&self) -> Option<u64> {
        self.mean()
            .map(|mean| mean.saturating_add(2 * self.deviation))
    }
}

/// A high quantile (about the 90th percentile) of a cost, tracked with bounded steps: a
/// sample above the estimate raises it by at most 9 steps, one below lowers it by at most one
/// step, a step being 1/32 of the estimate (at least 250 ns). So it settles where about one
/// sample in ten lies above it, and a nap delayed by milliseconds (a busy host) moves it by
/// 9/32 of itself at most, not by the delay.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct HighQuantile {
    value: u64,
    samples: u64,
}

impl HighQuantile {
    pub(super) fn add(&mut self, sample: u64) {
        if self.samples == 0 {
            self.value = sample;
        } else {
            let step = (self.value / 32).max(250);
            if sample > self.value {
                self.value += (sample - self.value).min(9 * step);
            } else {
                self.value -= (self.value - sample).min(step);
            }
        }
        self.samples = self.samples.saturating_add(1);
    }

    /// Lowers the estimate by 1/16, for lack of samples (see [`Policy::plan`]).
    fn decay(&mut self) {
        self.value -= self.value / 16;
    }

    pub(super) fn get(&self) -> Option<u64> {
        (self.samples > 0).then_some(self.value)
    }
}

/// How one wait goes about it, before it looks at the word again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Plan {
    /// Spin for at most `budget` ns, then sleep without a time-out.
    Spin { budget: u64 },
    /// Sleep for `nap` ns with a time-out (the answer wakes it earlier), then spin for at
    /// most `budget` ns, then sleep without a time-out.
    Nap { nap: u64, budget: u64 },
    /// Sleep at once, without a time-out: the call will last too long for a spin and for a
    /// nap to plan it.
    Sleep,
}

/// A waiter's knowledge: the spin ceiling it was configured with, the cost of being woken
/// and of a nap's lateness as measured on this machine, and the durations of its recent
/// calls.
#[derive(Debug, Clone)]
pub(super) struct Policy {
    /// `Options::spin`: no spin lasts longer; zero means never spin nor nap.
    ceiling: u64,
    /// From the peer's post to this waiter running again, when the post had to wake it.
    wake: Estimate,
    /// From a nap's time-out to this waiter running again (a high quantile).
    oversleep: HighQuantile,
    /// The last [`WINDOW`] call durations, oldest overwritten first.
    recent: [u64; WINDOW],
    /// How many durations were recorded (saturating).
    recorded: usize,
}

impl Policy {
    pub(super) fn new(ceiling: u64) -> Self {
        Policy {
            ceiling,
            wake: Estimate::default(),
            oversleep: HighQuantile::default(),
            recent: [0; WINDOW],
            recorded: 0,
        }
    }

    /// Whether this waiter never spins (a zero ceiling): it then looks at nothing either.
    pub(super) fn never_spins(&self) -> bool {
        self.ceiling == 0
    }

    /// The measured cost of a wake-up by the peer (mean), if measured yet.
    pub(super) fn wake_up(&self) -> Option<u64> {
        self.wake.mean()
    }

    /// The measured lateness of a nap (a high quantile), if measured yet.
    pub(super) fn oversleep(&self) -> Option<u64> {
        self.oversleep.get()
    }

    /// Records how long a call took, from the start of the wait to the answer.
    pub(super) fn record_call(&mut self, duration: u64) {
        self.recent[self.recorded % WINDOW] = duration;
        self.recorded = self.recorded.saturating_add(1);
        if self.recorded == usize::MAX {
            // Keep the ring's position meaningful once the count saturates.
            self.recorded = WINDOW * 2;
        }
    }

    /// Records how long the waiter took to run again after the peer's post woke it.
    pub(super) fn record_wake_up(&mut self, latency: u64) {
        self.wake.add(latency, self.ceiling);
    }

    /// Records how late a nap ended after its time-out.
    pub(super) fn record_oversleep(&mut self, late: u64) {
        self.oversleep.add(late);
    }

    /// The duration the next call is expected to take at least: the shortest of the last
    /// [`WINDOW`] (so one long call does not make the next short one wait asleep); `None`
    /// until that many were seen.
    pub(super) fn predicted_call(&self) -> Option<u64> {
        (self.recorded >= WINDOW).then(|| self.recent.iter().copied().min().unwrap_or(0))
    }

    /// How long before the predicted answer a nap must be planned to end: its measured
    /// lateness (a high quantile, since ending late costs a whole wake-up while ending early
    /// costs only spinning), or while no nap was measured, the wake-up's. `None` before
    /// either was measured.
    fn nap_lead(&self) -> Option<u64> {
        self.oversleep.get().or(self.wake.high())
    }

    /// The shortest call a nap can cover; a shorter one is caught by spinning alone.
    fn shortest_napped_call(&self) -> Option<u64> {
        self.nap_lead()
            .map(|lead| lead + MIN_NAP + margin(lead + MIN_NAP))
    }

    /// How long a spin may last: the cost of sleeping instead (the measured wake-up), and at
    /// least what it takes to catch a call too short to nap for; never more than the ceiling.
    /// The ceiling itself until anything was measured.
    pub(super) fn spin_budget(&self) -> u64 {
        match (self.wake.mean(), self.shortest_napped_call()) {
            (None, None) => self.ceiling,
            (wake, napless) => wake.unwrap_or(0).max(napless.unwrap_or(0)),
        }
        .min(self.ceiling)
    }

    /// The plan for the next wait, once the waiter found that spinning could pay (the peer
    /// runs elsewhere and the machine is not overcommitted).
    ///
    /// When only a nap's lateness stands between a call too long to spin for and a nap, the
    /// wait sleeps and the lateness decays by 1/16: naps learnt late in a bad moment (a busy
    /// host) are tried again after a few calls, instead of never, since a wait that does not
    /// nap measures no nap. Such a retry costs nothing a sleep would not: it ends late at
    /// worst, and the answer wakes it.
    pub(super) fn plan(&mut self) -> Plan {
        let budget = self.spin_budget();
        let Some(call) = self.predicted_call() else {
            return Plan::Spin { budget };
        };
        if call <= NAP_HORIZON {
            if let Some(lead) = self.nap_lead() {
                let nap = call.saturating_sub(lead.saturating_add(margin(call)));
                if nap >= MIN_NAP {
                    return Plan::Nap { nap, budget };
                }
                if call > budget && call >= MIN_NAP + margin(call) {
                    self.oversleep.decay();
                }
            }
        }
        if call > budget {
            Plan::Sleep
        } else {
            Plan::Spin { budget }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{margin, Estimate, HighQuantile, Plan, Policy, MIN_NAP, NAP_HORIZON, WINDOW};

    const US: u64 = 1_000;

    /// A policy that measured wake-ups of `wake` and naps `late` ns late, and saw calls of
    /// `call` ns.
    fn measured(ceiling: u64, wake: u64, late: Option<u64>, call: u64) -> Policy {
        let mut policy = Policy::new(ceiling);
        for _ in 0..64 {
            policy.record_wake_up(wake);
            if let Some(late) = late {
                policy.record_oversleep(late);
            }
        }
        for _ in 0..WINDOW {
            policy.record_call(call);
        }
        policy
    }

    #[test]
    fn an_estimate_follows_its_samples_and_bounds_outliers() {
        let mut estimate = Estimate::default();
        assert_eq!((estimate.mean(), estimate.high()), (None, None));
        estimate.add(100 * US, u64::MAX);
        assert_eq!(estimate.mean(), Some(100 * US));
        for _ in 0..100 {
            estimate.add(60 * US, u64::MAX);
        }
        let mean = estimate.mean().unwrap();
        assert!((60 * US..61 * US).contains(&mean), "{mean}");
        // A steady series leaves little deviation.
        assert!(estimate.high().unwrap() < 62 * US, "{estimate:?}");
        // One sample of a busy host moves the mean at most cap / 8.
        estimate.add(1_000 * US, 800 * US);
        assert!(
            estimate.mean().unwrap() < 61 * US + 100 * US,
            "{estimate:?}"
        );
    }

    #[test]
    fn a_high_quantile_settles_above_most_samples_and_shrugs_off_outliers() {
        let mut late = HighQuantile::default();
        assert_eq!(late.get(), None);
        // Naps 55–64 µs late, one in ten delayed by 2 ms.
        for n in 0..2000u64 {
            let sample = if n % 10 == 9 {
                2_000 * US
            } else {
                55 * US + (n * 7 % 10) * US
            };
            late.add(sample);
        }
        let value = late.get().unwrap();
        assert!((55 * US..120 * US).contains(&value), "{value}");
        // After the delays stop, it comes down within the steady samples' range.
        for n in 0..400u64 {
            late.add(55 * US + (n * 7 % 10) * US);
        }
        let value = late.get().unwrap();
        assert!((60 * US..=65 * US).contains(&value), "{value}");
    }

    #[test]
    fn naps_learnt_late_are_tried_again() {
        // A bad moment: naps 290 µs late; calls of 300 µs cannot be napped, nor spun.
        let mut policy = measured(200 * US, 10 * US, Some(290 * US), 300 * US);
        assert_eq!(policy.plan(), Plan::Sleep);
        // Without new nap samples the lateness decays until a nap is tried again.
        let sleeps = (0..100)
            .take_while(|_| policy.plan() == Plan::Sleep)
            .count();
        assert!(sleeps < 30, "{sleeps}");
        assert!(matches!(policy.plan(), Plan::Nap { .. }));
        // Calls short enough to spin for do not retry naps: it would only cost wake-ups.
        let mut spun = measured(200 * US, 10 * US, Some(290 * US), 150 * US);
        for _ in 0..100 {
            assert!(matches!(spun.plan(), Plan::Spin { .. }));
        }
    }

    #[test]
    fn before_anything_is_measured_a_wait_spins_for_the_ceiling() {
        let mut policy = Policy::new(250 * US);
        assert_eq!(policy.plan(), Plan::Spin { budget: 250 * US });
        assert_eq!(policy.predicted_call(), None);
    }

    #[test]
    fn the_prediction_is_the_shortest_recent_call() {
        let mut policy = Policy::new(250 * US);
        for call in [300, 5, 300] {
            policy.record_call(call * US);
        }
        assert_eq!(policy.predicted_call(), None, "fewer than WINDOW calls");
        policy.record_call(300 * US);
        assert_eq!(policy.predicted_call(), Some(5 * US));
        for _ in 0..WINDOW {
            policy.record_call(300 * US);
        }
        assert_eq!(policy.predicted_call(), Some(300 * US));
    }

    #[test]
    fn short_calls_spin_for_the_cost_of_a_wake_up() {
        // Wake-ups of 100 µs, naps 57 µs late (the default timer slack), calls of 4 µs.
        let mut policy = measured(250 * US, 100 * US, Some(57 * US), 4 * US);
        match policy.plan() {
            Plan::Spin { budget } => {
                assert!((99 * US..=100 * US).contains(&budget), "{budget}")
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_call_too_short_to_nap_for_is_spun_even_past_a_cheap_wake_up() {
        // Wake-ups of 10 µs, but naps 57 µs late: a 64 µs call cannot be napped, so the
        // budget covers it.
        let mut policy = measured(250 * US, 10 * US, Some(57 * US), 64 * US);
        match policy.plan() {
            Plan::Spin { budget } => assert!(budget > 64 * US + margin(64 * US), "{budget}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_long_call_naps_until_shortly_before_its_answer() {
        let mut policy = measured(250 * US, 100 * US, Some(57 * US), 256 * US);
        let Plan::Nap { nap, budget } = policy.plan() else {
            panic!("{:?}", policy.plan())
        };
        // The nap ends its lateness and a margin before the answer, not more.
        let lead = 256 * US - nap;
        assert!(lead >= 57 * US + margin(256 * US), "{lead}");
        assert!(lead <= 57 * US + margin(256 * US) + 2 * US, "{lead}");
        assert!(budget >= lead, "{budget} {lead}");
    }

    #[test]
    fn the_first_nap_ends_early_enough_for_a_wake_up() {
        // No nap measured yet: the lead is the wake-up's high estimate.
        let mut policy = measured(1_000 * US, 100 * US, None, 400 * US);
        let Plan::Nap { nap, .. } = policy.plan() else {
            panic!("{:?}", policy.plan())
        };
        assert!(nap <= 300 * US - margin(400 * US), "{nap}");
    }

    #[test]
    fn calls_beyond_the_horizon_sleep_at_once() {
        let mut policy = measured(250 * US, 100 * US, Some(57 * US), NAP_HORIZON + 1);
        assert_eq!(policy.plan(), Plan::Sleep);
    }

    #[test]
    fn it_adapts_both_ways() {
        let mut policy = measured(250 * US, 100 * US, Some(57 * US), 4 * US);
        assert!(matches!(policy.plan(), Plan::Spin { .. }));
        for _ in 0..WINDOW {
            policy.record_call(300 * US);
        }
        assert!(matches!(policy.plan(), Plan::Nap { .. }));
        // One short call is enough to spin again.
        policy.record_call(4 * US);
        assert!(
            matches!(policy.plan(), Plan::Spin { .. }),
            "{:?}",
            policy.plan()
        );
        // However many sleeps came before: the budget never shrinks below a wake-up.
        for _ in 0..1000 {
            policy.record_call(20 * NAP_HORIZON);
        }
        assert_eq!(policy.plan(), Plan::Sleep);
        policy.record_call(4 * US);
        match policy.plan() {
            Plan::Spin { budget } => assert!(budget >= 99 * US, "{budget}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_ceiling_bounds_every_spin() {
        let capped = measured(30 * US, 1_000 * US, Some(57 * US), 4 * US);
        assert_eq!(capped.spin_budget(), 30 * US);
        let never = Policy::new(0);
        assert!(never.never_spins());
        // Naps are planned whatever the ceiling; the spin after them is bounded by it.
        let mut long = measured(30 * US, 100 * US, Some(57 * US), 500 * US);
        assert!(matches!(long.plan(), Plan::Nap { budget, .. } if budget == 30 * US));
    }

    #[test]
    fn a_nap_is_never_shorter_than_the_minimum() {
        for call in (0..400).map(|c| c * US) {
            let mut policy = measured(250 * US, 100 * US, Some(57 * US), call);
            if let Plan::Nap { nap, .. } = policy.plan() {
                assert!(nap >= MIN_NAP, "{call}: {nap}");
                assert!(nap < call, "{call}: {nap}");
            }
        }
    }
}
