-- Whose claim a subscriber's is: a sender ends, renews and gives back
-- only its own, so one whose claim lapsed and was taken by another
-- (it stalled, then recorded at last) leaves the other's alone.
ALTER TABLE subscribers ADD COLUMN claimed_by TEXT NOT NULL DEFAULT '';
