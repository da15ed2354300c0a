//! Table tests per RFC.
