//! A fixed-capacity vector on the stack, filled in place.
//!
//! `std::array::from_fn` builds a whole `[T; N]` and moves it out of a `Result` on the way:
//! for a batch read's 64 receive slots (about 12 KiB) that was a 12 KiB `memcpy` per read
//! on top of building all 64 slots, whatever the number of datagrams the read could take.
//! [`Stack`] writes only the elements pushed, where they stay.

use core::mem::MaybeUninit;

/// Up to `N` values of `T`, pushed in place; dropped in place.
pub(crate) struct Stack<T, const N: usize> {
    items: [MaybeUninit<T>; N],
    len: usize,
}

impl<T, const N: usize> Stack<T, N> {
    /// An empty stack (nothing is written).
    #[inline]
    pub(crate) fn new() -> Self {
        Stack {
            items: [const { MaybeUninit::uninit() }; N],
            len: 0,
        }
    }

    /// Appends `v`; hands it back when the stack is full.
    #[inline]
    pub(crate) fn push(&mut self, v: T) -> Result<(), T> {
        match self.items.get_mut(self.len) {
            Some(slot) => {
                slot.write(v);
                self.len += 1;
                Ok(())
            }
            None => Err(v),
        }
    }

    /// The values pushed, in order.
    #[inline]
    pub(crate) fn as_mut_slice(&mut self) -> &mut [T] {
        let init = &mut self.items[..self.len];
        // SAFETY: the first `len` elements were written by `push` and not dropped since;
        // `MaybeUninit<T>` has `T`'s layout, so the slice of them is a valid `[T]`.
        unsafe { &mut *(init as *mut [MaybeUninit<T>] as *mut [T]) }
    }
}

impl<T, const N: usize> Drop for Stack<T, N> {
    fn drop(&mut self) {
        for slot in &mut self.items[..self.len] {
            // SAFETY: each of the first `len` elements holds a live `T`, dropped once here.
            unsafe { slot.assume_init_drop() };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Stack;
    use std::rc::Rc;

    #[test]
    fn pushes_in_order_refuses_past_capacity_and_drops_each_value_once() {
        let marker = Rc::new(());
        {
            let mut s: Stack<(Rc<()>, u32), 3> = Stack::new();
            assert!(s.as_mut_slice().is_empty());
            for i in 0..3 {
                s.push((marker.clone(), i)).unwrap();
            }
            let (back, i) = s.push((marker.clone(), 9)).unwrap_err();
            assert_eq!(i, 9);
            drop(back);
            assert_eq!(Rc::strong_count(&marker), 4);
            let ids: Vec<u32> = s.as_mut_slice().iter().map(|v| v.1).collect();
            assert_eq!(ids, [0, 1, 2]);
            s.as_mut_slice()[1].1 = 7;
            assert_eq!(s.as_mut_slice()[1].1, 7);
        }
        assert_eq!(
            Rc::strong_count(&marker),
            1,
            "every pushed value dropped once"
        );
    }

    #[test]
    fn a_partly_filled_stack_drops_only_what_was_pushed() {
        let marker = Rc::new(());
        let mut s: Stack<Rc<()>, 64> = Stack::new();
        s.push(marker.clone()).unwrap();
        drop(s);
        assert_eq!(Rc::strong_count(&marker), 1);
    }
}
