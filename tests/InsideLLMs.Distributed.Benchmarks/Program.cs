using InsideLLMs.Distributed.Benchmarks;

return args.FirstOrDefault() switch
{
    "embeddings" => EmbeddingSuite.Run(args),
    "generation" => await GenerationSuite.RunAsync(args),
    _ => await BenchmarkApp.RunAsync(args),
};
