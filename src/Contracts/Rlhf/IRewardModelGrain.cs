namespace InsideLLMs.Distributed.Contracts.Rlhf;

/// <summary>
/// A trained reward model as a scorer (key: the id of the run that trained it, objective <c>reward</c>): the run's
/// weights in one whole model with its score head, the scores normalised to mean 0 and standard deviation 1 on the
/// completions of the rankings it trained on (samples of the policy they were ranked from). It reloads when the run has
/// moved on. The run's stage grains must still hold its weights (they do after it completes, until they are idle long
/// enough for Orleans to collect them).
/// </summary>
public interface IRewardModelGrain : IGrainWithStringKey
{
    /// <summary>What the reward model is and how well it orders held-out rankings.</summary>
    /// <exception cref="ArgumentException">No such run, or it is not a reward model.</exception>
    /// <exception cref="InvalidOperationException">The run is still training, or has no weights to read.</exception>
    [ResponseTimeout("00:05:00")]
    Task<RewardModelInfo> GetInfoAsync();

    /// <summary>Scores completions of one prompt: raw, normalised, the preference rule's, and the order the model prefers.</summary>
    /// <exception cref="ArgumentException">An empty prompt, no completions or more than <see cref="RewardModelInfo.MaxCompletions"/>, or a completion too long for the model's context; and everything <see cref="GetInfoAsync"/> refuses.</exception>
    [ResponseTimeout("00:05:00")]
    Task<RewardScoresView> ScoreAsync(string prompt, IReadOnlyList<string> completions);
}

/// <summary>
/// A reward model: its run and step, its normalisation (from <paramref name="NormalizationSamples"/> completions), and
/// on the run's held-out rankings the pairs it orders as the annotators did and as the preference rule does (pairs the
/// truth ties are not counted).
/// </summary>
[GenerateSerializer, Immutable, Alias("RewardModelInfo")]
public sealed record RewardModelInfo(
    [property: Id(0)] string RunId,
    [property: Id(1)] long Step,
    [property: Id(2)] double Mean,
    [property: Id(3)] double Std,
    [property: Id(4)] int NormalizationSamples,
    [property: Id(5)] int HeldOutRankings,
    [property: Id(6)] long AnnotatorPairsAgreed,
    [property: Id(7)] long AnnotatorPairs,
    [property: Id(8)] long RulePairsAgreed,
    [property: Id(9)] long RulePairs)
{
    /// <summary>At most this many completions are scored in one call.</summary>
    public const int MaxCompletions = 16;

    public double? AnnotatorAgreement => AnnotatorPairs == 0 ? null : (double)AnnotatorPairsAgreed / AnnotatorPairs;

    public double? RuleAgreement => RulePairs == 0 ? null : (double)RulePairsAgreed / RulePairs;
}

/// <summary>
/// Scores of completions of one prompt: the score head's raw output at each completion's last token, the same
/// normalised, the preference rule's score of each (the truth the simulated annotators rank by), and the completions'
/// indices from the best normalised score down.
/// </summary>
[GenerateSerializer, Immutable, Alias("RewardScoresView")]
public sealed record RewardScoresView(
    [property: Id(0)] string RunId,
    [property: Id(1)] long Step,
    [property: Id(2)] IReadOnlyList<double> Raw,
    [property: Id(3)] IReadOnlyList<double> Normalized,
    [property: Id(4)] IReadOnlyList<double> Rule,
    [property: Id(5)] IReadOnlyList<int> Order);
