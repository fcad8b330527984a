using InsideLLMs.Distributed.Contracts.Rlhf;
using InsideLLMs.Distributed.Contracts.Training;
using InsideLLMs.Distributed.Grains.Hosting;
using InsideLLMs.Distributed.Grains.Inference;
using InsideLLMs.Distributed.Maths.Data;
using InsideLLMs.Distributed.Maths.Model;
using InsideLLMs.Distributed.Maths.Objectives;
using InsideLLMs.Distributed.Maths.Rlhf;
using InsideLLMs.Distributed.Maths.Tokenization;

namespace InsideLLMs.Distributed.Grains.Rlhf;

/// <summary>
/// A reward run's weights as a scorer. On first use (and when the run has moved on) it reads the run's parameters into
/// one whole model with the score head, then scores the completions of up to <see cref="NormalizationRankings"/> of the
/// run's training rankings for the normalisation and every held-out ranking for the agreements. The maths runs on the
/// silo's compute threads; the model is freed with the activation.
/// </summary>
public sealed class RewardModelGrain(ComputeScheduler compute, DatasetCache datasets) : Grain, IRewardModelGrain, IDisposable
{
    /// <summary>Enough completions for a stable mean and deviation, few enough to load in seconds on a small model.</summary>
    public const int NormalizationRankings = 256;

    private Owned<GptStage>? _model;
    private Loaded? _loaded;

    private string RunId => this.GetPrimaryKeyString();

    public async Task<RewardModelInfo> GetInfoAsync() => (await LoadAsync()).Info;

    public async Task<RewardScoresView> ScoreAsync(string prompt, IReadOnlyList<string> completions)
    {
        if (string.IsNullOrWhiteSpace(prompt))
        {
            throw new ArgumentException("Scoring needs a prompt.");
        }

        if (completions is null || completions.Count == 0 || completions.Count > RewardModelInfo.MaxCompletions)
        {
            throw new ArgumentException($"Scoring takes 1 to {RewardModelInfo.MaxCompletions} completions of the prompt; got {completions?.Count ?? 0}.");
        }

        var loaded = await LoadAsync();
        var raw = await compute.RunAsync(_model!, m => RewardScores.Score(m, loaded.Vocabulary, prompt, completions));
        var normalization = new ScoreNormalization(loaded.Info.Mean, loaded.Info.Std);
        var normalized = raw.Select(normalization.Apply).ToArray();
        var rule = completions.Select(c => PreferenceRule.Default.Score(prompt, c)).ToArray();
        var order = Enumerable.Range(0, normalized.Length).OrderByDescending(i => normalized[i]).ThenBy(i => i).ToArray();
        return new RewardScoresView(RunId, loaded.Info.Step, raw, normalized, rule, order);
    }

    public void Dispose() => _model?.Retire();

    private async Task<Loaded> LoadAsync()
    {
        var run = GrainFactory.GetGrain<ITrainingRunGrain>(RunId);
        var status = await run.GetStatusAsync();
        if (status.Phase == RunPhase.NotStarted || status.Spec is not { } spec)
        {
            throw new ArgumentException($"Run '{RunId}' has never started on this cluster: there is no reward model to score with.");
        }

        if (TrainingRunSpecs.Objective(spec) != ObjectiveKind.Reward)
        {
            throw new ArgumentException($"Run '{RunId}' trains with objective '{spec.Objective}': only a run with objective 'reward' has a score head.");
        }

        if (status.Phase is RunPhase.Starting or RunPhase.Running or RunPhase.Recovering)
        {
            throw new InvalidOperationException($"Run '{RunId}' is still training (step {status.Step} of {status.TotalSteps}): score with it once it has completed or stopped.");
        }

        if (status.Step == 0)
        {
            throw new InvalidOperationException($"Run '{RunId}' took no step: its score head is untrained.");
        }

        if (_loaded is { } held && held.Spec == spec && held.Step == status.Step)
        {
            return held;
        }

        if (TrainingRunSpecs.RankingSource(spec) == TrainingRunSpecs.ClusterRankings)
        {
            datasets.LoadRankings(RunId, spec, await GrainFactory.GetGrain<IRankingSnapshotGrain>(RunId).GetAsync());
        }

        var rankings = datasets.Rankings(spec, RunId);
        var vocabulary = datasets.Get(spec).Vocabulary;
        var parameters = await run.GetParametersAsync();
        var config = TrainingRunSpecs.Model(spec, vocabulary.Count);
        var model = await compute.RunAsync(() => InferenceModels.Build(config, StageSpec.Whole(config), parameters, StageHead.Score));
        _model?.Retire();
        _model = new Owned<GptStage>(model, $"reward model {RunId} (step {status.Step})", exclusive: true);
        var info = await compute.RunAsync(_model, m => Measure(m, vocabulary, rankings, status.Step));
        _loaded = new Loaded(spec, status.Step, vocabulary, info);
        return _loaded;
    }

    /// <summary>The normalisation on training rankings' completions, and the agreements on every held-out ranking.</summary>
    private RewardModelInfo Measure(GptStage model, ModelVocabulary vocabulary, RankingDataset rankings, long step)
    {
        var samples = rankings.TrainRankings.Take(NormalizationRankings)
            .SelectMany(r => RewardScores.Score(model, vocabulary, r.Prompt, r.Completions)).ToArray();
        var normalization = RewardScores.Normalization(samples);
        var heldOut = rankings.ValidationRankings
            .Select(r => (Ranking: r, Scores: (IReadOnlyList<double>)RewardScores.Score(model, vocabulary, r.Prompt, r.Completions)))
            .ToArray();
        var annotators = RewardScores.Agreement(heldOut.Select(h =>
            (h.Scores, (IReadOnlyList<double>)[.. Enumerable.Range(0, h.Ranking.Completions.Count).Select(i => -(double)h.Ranking.PlaceOf(i))])));
        var rule = RewardScores.Agreement(heldOut.Select(h =>
            (h.Scores, (IReadOnlyList<double>)[.. h.Ranking.Completions.Select(c => PreferenceRule.Default.Score(h.Ranking.Prompt, c))])));
        return new RewardModelInfo(
            RunId, step, normalization.Mean, normalization.Std, samples.Length, heldOut.Length,
            annotators.Agreed, annotators.Pairs, rule.Agreed, rule.Pairs);
    }

    private sealed record Loaded(TrainingRunSpec Spec, long Step, ModelVocabulary Vocabulary, RewardModelInfo Info);
}
