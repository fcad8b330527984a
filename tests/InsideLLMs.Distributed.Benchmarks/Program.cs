using InsideLLMs.Distributed.Benchmarks;

return await BenchmarkApp.RunAsync(args);
