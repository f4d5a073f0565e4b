-- A case may start from a complaint (投诉, 实施条例 第61–62条) instead of an alert: the
-- regulator investigates it, may suspend the tender meanwhile, and closes it with a finding.
alter table supervision_case add column complaint_id text references complaint(complaint_id);
create index supervision_case_complaint_idx on supervision_case(complaint_id);

-- The supervision engine reads the log by action (clocks, rules across tenders).
create index audit_event_action_idx on audit_event(action, seq);
