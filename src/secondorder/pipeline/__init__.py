"""What the pipeline's jobs compute: stages, the robustness study, the cost study,
the benchmarks, and the article's figures and generated text."""
