namespace InsideLLMs.Distributed.Contracts.Inference;

/// <summary>
/// One real training token of a live run, through the run's current weights: the forward pass (the predicted next-token
/// distribution) and the loss (the probability given to the true token). The token is row <see cref="Row"/> of
/// micro-batch <see cref="MicroBatch"/> of replica 0 in step <see cref="Step"/>'s global batch, at <see cref="Position"/>;
/// the model sees positions 0..Position of that row and is scored on the token that followed.
/// </summary>
/// <param name="RunId">The run the row and the weights come from.</param>
/// <param name="Step">The 1-based step whose batch the row is from (the step trained on it).</param>
/// <param name="WeightsStep">Steps the weights had completed when they were fetched: equal to <paramref name="Step"/> by
/// default, so the prediction is after that step's update.</param>
/// <param name="Context">Positions 0..Position of the row: what the model reads.</param>
/// <param name="Target">The true next token (the row's target at Position).</param>
/// <param name="Top">The model's most likely next tokens, most likely first (probabilities at temperature 1).</param>
/// <param name="TargetProbability">p(Target | Context).</param>
/// <param name="Loss">-ln TargetProbability, the cross-entropy this token adds to the training loss (nats).</param>
/// <param name="TargetRank">1 when the true token is the model's most likely one.</param>
[GenerateSerializer, Immutable, Alias("TrainingTokenView")]
public sealed record TrainingTokenView(
    [property: Id(0)] string RunId,
    [property: Id(1)] long Step,
    [property: Id(2)] long WeightsStep,
    [property: Id(3)] int MicroBatch,
    [property: Id(4)] int Row,
    [property: Id(5)] int Position,
    [property: Id(6)] IReadOnlyList<TrainingTokenInfo> Context,
    [property: Id(7)] TrainingTokenInfo Target,
    [property: Id(8)] IReadOnlyList<TokenAlternative> Top,
    [property: Id(9)] double TargetProbability,
    [property: Id(10)] double Loss,
    [property: Id(11)] int TargetRank);
