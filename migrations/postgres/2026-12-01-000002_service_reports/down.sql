DROP INDEX tickets_report;
DROP INDEX tickets_solved_at;
