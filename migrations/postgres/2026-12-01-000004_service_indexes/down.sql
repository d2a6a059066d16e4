DROP INDEX tickets_unsolved_assignee;
