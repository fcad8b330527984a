namespace InsideLLMs.Distributed.Contracts.Inference;

/// <summary>A version's shape and its inference stage grains (where each runs, what it holds, how busy it is).</summary>
[GenerateSerializer, Immutable, Alias("ArchitectureView")]
public sealed record ArchitectureView(
    [property: Id(0)] string Version,
    [property: Id(1)] int Layers,
    [property: Id(2)] int Heads,
    [property: Id(3)] int Width,
    [property: Id(4)] int Context,
    [property: Id(5)] int VocabularySize,
    [property: Id(6)] long ParameterCount,
    [property: Id(7)] IReadOnlyList<InferenceStageInfo> Stages);
