using InsideLLMs.Distributed.Maths.Model;
using InsideLLMs.Distributed.Maths.Tokenization;
using static TorchSharp.torch;

namespace InsideLLMs.Distributed.Maths.Rlhf;

/// <summary>
/// What a reward model says of completions: the score head's output at each completion's last token (the closing EOD of
/// its <see cref="RankingDataset.Row"/>), and the numbers the reward model is judged by.
/// </summary>
public static class RewardScores
{
    /// <summary>Raw scores of <paramref name="completions"/> of <paramref name="prompt"/>, one forward of the whole model over them as one batch.</summary>
    /// <exception cref="ArgumentException">The model has no score head or is not the whole model, or a row is longer than its context.</exception>
    public static double[] Score(GptStage model, ModelVocabulary vocabulary, string prompt, IReadOnlyList<string> completions)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(completions);
        if (model.OutputHead != StageHead.Score || !model.Stage.IsFirst || !model.Stage.IsLast)
        {
            throw new ArgumentException("Scores come from a whole model with a score head.");
        }

        if (completions.Count == 0)
        {
            return [];
        }

        var rows = completions.Select(c => RankingDataset.Row(prompt, c, vocabulary)).ToArray();
        var t = rows.Max(r => r.Length);
        if (t > model.Config.BlockSize)
        {
            throw new ArgumentException($"A completion's row is {t} tokens, more than the reward model's context of {model.Config.BlockSize}.");
        }

        var inputs = new long[rows.Length * t];
        Array.Fill(inputs, ModelVocabulary.EndOfDocument);
        var last = new long[rows.Length];
        for (var b = 0; b < rows.Length; b++)
        {
            Array.Copy(rows[b], 0, inputs, b * t, rows[b].Length);
            last[b] = ((long)b * t) + rows[b].Length - 1;
        }

        var training = model.training;
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        model.eval();
        try
        {
            var output = model.Forward(tensor(inputs, [rows.Length, t], dtype: ScalarType.Int64)); // (B, T, 1)
            return [.. output.reshape(-1).index_select(0, tensor(last)).to_type(ScalarType.Float64).data<double>()];
        }
        finally
        {
            model.train(training);
        }
    }

    /// <summary>Mean and standard deviation (population) of raw scores: the reward model's normalisation, taken on the SFT policy's samples.</summary>
    public static ScoreNormalization Normalization(IReadOnlyCollection<double> scores)
    {
        ArgumentNullException.ThrowIfNull(scores);
        if (scores.Count < 2)
        {
            throw new ArgumentException("Normalising scores needs at least two of them.");
        }

        var mean = scores.Average();
        var std = Math.Sqrt(scores.Sum(s => (s - mean) * (s - mean)) / scores.Count);
        return new ScoreNormalization(mean, std > 0 ? std : 1);
    }

    /// <summary>
    /// The share of completion pairs the scores order as <paramref name="truth"/> does, over every pair of every ranking
    /// whose true scores differ (ties in the truth say nothing).
    /// </summary>
    public static PairwiseAgreement Agreement(IEnumerable<(IReadOnlyList<double> Scores, IReadOnlyList<double> Truth)> rankings)
    {
        ArgumentNullException.ThrowIfNull(rankings);
        long pairs = 0, agreed = 0;
        foreach (var (scores, truth) in rankings)
        {
            for (var i = 0; i < scores.Count; i++)
            {
                for (var j = i + 1; j < scores.Count; j++)
                {
                    if (truth[i] == truth[j])
                    {
                        continue;
                    }

                    pairs++;
                    agreed += (scores[i] - scores[j]) * (truth[i] - truth[j]) > 0 ? 1 : 0;
                }
            }
        }

        return new PairwiseAgreement(agreed, pairs);
    }
}

/// <summary>A reward model's normalisation: a raw score r is reported as (r − Mean) / Std.</summary>
public sealed record ScoreNormalization(double Mean, double Std)
{
    public double Apply(double raw) => (raw - Mean) / Std;
}

/// <summary>Pairs ordered as the truth orders them, of the pairs the truth does not tie.</summary>
public readonly record struct PairwiseAgreement(long Agreed, long Pairs)
{
    public double Accuracy => Pairs == 0 ? double.NaN : (double)Agreed / Pairs;
}
