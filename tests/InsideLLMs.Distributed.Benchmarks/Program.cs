using InsideLLMs.Distributed.Benchmarks;

return args.FirstOrDefault() switch
{
    "embeddings" => EmbeddingSuite.Run(args),
    "generation" => await GenerationSuite.RunAsync(args),
    "memory-probe" => MemorySuite.Probe(args),
    _ => await BenchmarkApp.RunAsync(args),
};
