namespace InsideLLMs.Distributed.Contracts.Training;

/// <summary>The gradient of one copy of the tied embedding/head matrix, exchanged between the first and last stage.</summary>
[GenerateSerializer, Immutable, Alias("TiedGradientMessage")]
public sealed record TiedGradientMessage(
    [property: Id(0)] long Step,
    [property: Id(1)] bool FromFirstStage,
    [property: Id(2)] TensorMessage Gradient);
