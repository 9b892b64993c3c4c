//! Packet loss models: none, independent (Bernoulli) loss, and the Gilbert–Elliott two-state
//! burst model.
//!
//! Gilbert–Elliott: a Markov chain with a Good and a Bad state, stepped once per packet. From
//! Good it moves to Bad with probability `p_gb`, from Bad back to Good with `p_bg`; a packet is
//! then lost with probability `loss_good` or `loss_bad` of the state it is in. With
//! `loss_good = 0` and `loss_bad = 1` the mean loss burst is `1 / p_bg` packets and the mean
//! loss rate is `p_gb / (p_gb + p_bg)`.

use crate::rng::Rng;

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum LossModel {
    None,
    /// Every packet is lost independently with this probability.
    Random(f64),
    GilbertElliott {
        p_gb: f64,
        p_bg: f64,
        loss_good: f64,
        loss_bad: f64,
    },
}

impl LossModel {
    /// Bursty loss with a mean loss rate `rate` in mean bursts of `burst` packets (≥ 1): Bad
    /// loses every packet, Good none.
    pub fn bursty(rate: f64, burst: f64) -> LossModel {
        if rate <= 0.0 {
            return LossModel::None;
        }
        let rate = rate.min(0.999_999);
        let p_bg = 1.0 / burst.max(1.0);
        LossModel::GilbertElliott {
            p_gb: rate * p_bg / (1.0 - rate),
            p_bg,
            loss_good: 0.0,
            loss_bad: 1.0,
        }
    }

    /// The long-run fraction of packets lost.
    pub fn mean_loss(&self) -> f64 {
        match *self {
            LossModel::None => 0.0,
            LossModel::Random(p) => p.clamp(0.0, 1.0),
            LossModel::GilbertElliott {
                p_gb,
                p_bg,
                loss_good,
                loss_bad,
            } => {
                if p_gb + p_bg <= 0.0 {
                    return loss_good;
                }
                let bad = p_gb / (p_gb + p_bg);
                (1.0 - bad) * loss_good + bad * loss_bad
            }
        }
    }
}

/// The per-direction state of a loss model (the Gilbert–Elliott chain's current state).
#[derive(Debug, Clone)]
pub struct Loss {
    model: LossModel,
    bad: bool,
}

impl Loss {
    pub fn new(model: LossModel) -> Self {
        Loss { model, bad: false }
    }

    pub fn model(&self) -> LossModel {
        self.model
    }

    /// Steps the model for one packet; true when that packet is lost.
    pub fn lose(&mut self, rng: &mut Rng) -> bool {
        match self.model {
            LossModel::None => false,
            LossModel::Random(p) => rng.chance(p),
            LossModel::GilbertElliott {
                p_gb,
                p_bg,
                loss_good,
                loss_bad,
            } => {
                let flip = rng.chance(if self.bad { p_bg } else { p_gb });
                self.bad ^= flip;
                rng.chance(if self.bad { loss_bad } else { loss_good })
            }
        }
    }
}

impl std::fmt::Display for LossModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match *self {
            LossModel::None => write!(f, "no loss"),
            LossModel::Random(p) => write!(f, "loss {:.3} %", p * 100.0),
            LossModel::GilbertElliott {
                p_gb,
                p_bg,
                loss_good,
                loss_bad,
            } => write!(
                f,
                "burst loss {:.3} % (Gilbert–Elliott p_gb {p_gb:.5}, p_bg {p_bg:.4}, loss {loss_good}/{loss_bad})",
                self.mean_loss() * 100.0
            ),
        }
    }
}
