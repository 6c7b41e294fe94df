//! Which room a request is for: [`RoomSource`], read from a [`Page`].

mod page;
mod source;
mod template;

pub use page::Page;
pub use source::RoomSource;
