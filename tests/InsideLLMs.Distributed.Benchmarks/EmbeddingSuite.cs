using System.Globalization;
using System.Text;
using InsideLLMs.Distributed.Maths.Data;
using InsideLLMs.Distributed.Maths.Inspection;
using InsideLLMs.Distributed.Maths.Training;

namespace InsideLLMs.Distributed.Benchmarks;

/// <summary>
/// After the default synthetic training run: do the token embeddings separate the lexicon's categories? Prints the
/// nearest-neighbour category purity and writes the 2D projection as an SVG picture.
/// Usage: dotnet run -c Release --project tests/InsideLLMs.Distributed.Benchmarks -- embeddings [--steps N] [--out FILE]
/// </summary>
internal static class EmbeddingSuite
{
    // The walkthrough's groups: singular and plural animals are one group, as are the two name lists and the two verb lists.
    private static readonly Dictionary<string, string> Groups = new(StringComparer.Ordinal)
    {
        ["animal"] = "animals", ["animals"] = "animals", ["place"] = "places", ["motion verb"] = "verbs", ["object verb"] = "verbs",
        ["emotion"] = "emotions", ["object"] = "objects", ["colour"] = "colours", ["female name"] = "names", ["male name"] = "names",
    };

    private static readonly string[] Palette = ["#d62728", "#1f77b4", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf"];

    public static int Run(string[] args)
    {
        var steps = Option(args, "--steps") is { } s ? int.Parse(s, CultureInfo.InvariantCulture) : (int?)null;
        var output = Option(args, "--out") ?? "docs/embeddings.svg";
        var preset = TrainingPresets.Synthetic;
        var (data, model) = preset.Load();
        using var trainer = new ReferenceTrainer(model, data, preset.Training with { Steps = steps ?? preset.Training.Steps, EvalInterval = 0 });
        var summary = trainer.Run(new InlineProgress<TrainingProgress>(p =>
        {
            if (p.Step % 250 == 0 || p.Step == p.TotalSteps)
            {
                Console.WriteLine($"[embeddings] step {p.Step}/{p.TotalSteps} loss {p.Loss:F4}");
            }
        }));

        var lexicon = SyntheticLexicon.Default;
        var categories = new Dictionary<int, string>();
        foreach (var word in lexicon.Words)
        {
            var ids = data.Vocabulary.EncodeText(" " + word.Word);
            if (ids.Length == 1 && Groups.TryGetValue(word.Category, out var group))
            {
                categories[ids[0]] = group;
            }
        }

        var table = trainer.Model.TokenEmbedding!;
        var purity = EmbeddingInspector.CategoryPurity(table, categories);
        var projection = EmbeddingInspector.Project(table, [.. categories.Keys.Order()]);
        var chance = categories.Values.GroupBy(c => c).Max(g => g.Count()) / (double)categories.Count;
        Console.WriteLine();
        Console.WriteLine($"steps {summary.Steps}, validation loss {summary.ValidationLoss:F4} (floor {summary.EntropyFloor:F4})");
        Console.WriteLine($"nearest-neighbour category purity over {categories.Count} lexicon tokens in {categories.Values.Distinct().Count()} groups: {purity:F3} (largest group alone: {chance:F3})");
        foreach (var group in categories.GroupBy(c => c.Value).OrderBy(g => g.Key, StringComparer.Ordinal))
        {
            var among = categories.Keys.ToHashSet();
            var agree = group.Count(e => categories[EmbeddingInspector.NearestNeighbours(table, e.Key, 1, among)[0].ModelId] == group.Key);
            Console.WriteLine($"  {group.Key,-9} {group.Count(),3} tokens, purity {(double)agree / group.Count():F3}");
        }

        Console.WriteLine($"2D projection keeps {projection.ExplainedVariance:P1} of the variance; picture: {Path.GetFullPath(output)}");
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(output))!);
        File.WriteAllText(output, Svg(projection, categories, data.Vocabulary.Describe, purity, summary.Steps));
        return 0;
    }

    private static string Svg(EmbeddingProjection projection, Dictionary<int, string> categories, Func<int, string> describe, double purity, long steps)
    {
        const double width = 900, height = 640, margin = 40;
        var groups = categories.Values.Distinct().Order(StringComparer.Ordinal).ToArray();
        var (minX, maxX) = (projection.Points.Min(p => p.X), projection.Points.Max(p => p.X));
        var (minY, maxY) = (projection.Points.Min(p => p.Y), projection.Points.Max(p => p.Y));
        double X(float x) => margin + (x - minX) / (maxX - minX) * (width - 2 * margin - 140);
        double Y(float y) => height - margin - (y - minY) / (maxY - minY) * (height - 2 * margin);
        var svg = new StringBuilder();
        var c = CultureInfo.InvariantCulture;
        svg.Append(c, $"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" font-family=\"sans-serif\" font-size=\"11\">\n");
        svg.Append(c, $"<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n");
        svg.Append(c, $"<text x=\"{margin}\" y=\"22\" font-size=\"14\">Synthetic corpus, {steps} steps: token embeddings by PCA ({projection.ExplainedVariance:P0} of variance), neighbour purity {purity:F2}</text>\n");
        foreach (var point in projection.Points)
        {
            var colour = Palette[Array.IndexOf(groups, categories[point.ModelId]) % Palette.Length];
            var label = System.Security.SecurityElement.Escape(describe(point.ModelId).Trim());
            svg.Append(c, $"<circle cx=\"{X(point.X):F1}\" cy=\"{Y(point.Y):F1}\" r=\"4\" fill=\"{colour}\"/>");
            svg.Append(c, $"<text x=\"{X(point.X) + 5:F1}\" y=\"{Y(point.Y) + 4:F1}\" fill=\"{colour}\">{label}</text>\n");
        }

        for (var i = 0; i < groups.Length; i++)
        {
            var y = margin + 20 + i * 18;
            svg.Append(c, $"<circle cx=\"{width - 120}\" cy=\"{y}\" r=\"5\" fill=\"{Palette[i % Palette.Length]}\"/><text x=\"{width - 110}\" y=\"{y + 4}\">{groups[i]}</text>\n");
        }

        svg.Append("</svg>\n");
        return svg.ToString();
    }

    private static string? Option(string[] args, string name)
    {
        var index = Array.IndexOf(args, name);
        return index >= 0 && index + 1 < args.Length ? args[index + 1] : null;
    }
}
