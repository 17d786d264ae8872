//! Value types: scalars, pointers and blocks (tensors of static power-of-two shape).

use crate::DType;
use std::fmt;

/// The element of a value: a number or a pointer to numbers in device memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Elem {
    Scalar(DType),
    Ptr(DType),
}

impl Elem {
    pub fn scalar(self) -> Option<DType> {
        match self {
            Elem::Scalar(d) => Some(d),
            Elem::Ptr(_) => None,
        }
    }
    pub fn is_ptr(self) -> bool {
        matches!(self, Elem::Ptr(_))
    }
}

impl fmt::Display for Elem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Elem::Scalar(d) => write!(f, "{d}"),
            Elem::Ptr(d) => write!(f, "!tt.ptr<{d}>"),
        }
    }
}

/// A value's type: `shape` is empty for a scalar, otherwise a block.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Type {
    pub elem: Elem,
    pub shape: Vec<u32>,
}

impl Type {
    pub fn scalar(d: DType) -> Type {
        Type { elem: Elem::Scalar(d), shape: vec![] }
    }
    pub fn ptr(d: DType) -> Type {
        Type { elem: Elem::Ptr(d), shape: vec![] }
    }
    pub fn block(elem: Elem, shape: Vec<u32>) -> Type {
        Type { elem, shape }
    }
    pub fn is_block(&self) -> bool {
        !self.shape.is_empty()
    }
    pub fn numel(&self) -> u64 {
        self.shape.iter().map(|&s| s as u64).product()
    }
    pub fn rank(&self) -> usize {
        self.shape.len()
    }
    /// Same shape, another element.
    pub fn with_elem(&self, elem: Elem) -> Type {
        Type { elem, shape: self.shape.clone() }
    }
    pub fn with_shape(&self, shape: Vec<u32>) -> Type {
        Type { elem: self.elem, shape }
    }
    /// The scalar element type, if the element is not a pointer.
    pub fn dtype(&self) -> Option<DType> {
        self.elem.scalar()
    }
}

impl fmt::Display for Type {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.shape.is_empty() {
            return write!(f, "{}", self.elem);
        }
        f.write_str("tensor<")?;
        for s in &self.shape {
            write!(f, "{s}x")?;
        }
        write!(f, "{}>", self.elem)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prints_like_ttir() {
        assert_eq!(Type::scalar(DType::I32).to_string(), "i32");
        assert_eq!(Type::ptr(DType::F32).to_string(), "!tt.ptr<f32>");
        assert_eq!(Type::block(Elem::Ptr(DType::F16), vec![64, 32]).to_string(), "tensor<64x32x!tt.ptr<f16>>");
    }
}
