using InsideLLMs.Distributed.Benchmarks;

return args.FirstOrDefault() == "embeddings" ? EmbeddingSuite.Run(args) : await BenchmarkApp.RunAsync(args);
