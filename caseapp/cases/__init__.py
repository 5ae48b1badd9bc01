"""Youth case files (hồ sơ quản lý): encrypted identities, scoped access, timeline, duplicates."""
