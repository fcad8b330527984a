namespace InsideLLMs.Distributed.Contracts.Inference;

/// <summary>One inference stage as the architecture view shows it.</summary>
/// <param name="Layers">Global block indices this stage runs.</param>
/// <param name="Forwards">Forward messages this activation has handled (a live message count).</param>
[GenerateSerializer, Immutable, Alias("InferenceStageInfo")]
public sealed record InferenceStageInfo(
    [property: Id(0)] string GrainKey,
    [property: Id(1)] int Stage,
    [property: Id(2)] IReadOnlyList<int> Layers,
    [property: Id(3)] bool HasEmbedding,
    [property: Id(4)] bool HasHead,
    [property: Id(5)] long ParameterCount,
    [property: Id(6)] string Silo,
    [property: Id(7)] int Sessions,
    [property: Id(8)] long Forwards);
