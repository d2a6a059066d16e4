DROP TABLE opportunity_stages;
DROP TABLE opportunities;
DROP TABLE pipeline_stages;
DROP TABLE pipelines;
