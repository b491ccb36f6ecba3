//! The operations every model gets.

/// Operations on every [`Model`](super::Model).
pub trait ModelExt: super::Model {}
impl<M: super::Model> ModelExt for M {}
