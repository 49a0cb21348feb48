//! The project's own channel-last depthwise convolution for tract (issue 21): tract 0.23 has
//! no x86 kernel for it (its channel-last loop is plain Rust), and the ReLU6 after each of the
//! network's 16 depthwise layers ran as a separate pass. [`use_own_depthwise`] patches a
//! decluttered graph so those layers run [`ChannelLastDepthwise`]: AVX-512F or AVX2+FMA
//! kernels chosen at run time ([`Isa`]), a portable fallback, ReLU6 fused into the store.

mod kernel;
mod op;
mod patch;

pub use kernel::Isa;
pub use op::ChannelLastDepthwise;
pub use patch::use_own_depthwise;

#[cfg(test)]
mod tests;
