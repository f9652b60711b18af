-- Run once by the postgres image on a new data directory (compose.yaml): the browse catalog's database beside
-- Airflow's. feedvault creates its schema on first use; it needs the unaccent extension (in the image).
CREATE DATABASE feedvault_catalog;
