using System.Globalization;
using System.Text;
using System.Text.Json;

namespace InsideLLMs.Distributed.Silo.Page;

/// <summary>The numbers behind one chart, as a table: what its data-table view shows and its CSV and JSON exports hold.</summary>
public sealed record ChartData(IReadOnlyList<string> Columns, IReadOnlyList<object?[]> Rows)
{
    /// <summary>RFC 4180 CSV: a header line, invariant-culture numbers, fields with commas, quotes or line breaks quoted.</summary>
    public string ToCsv()
    {
        var csv = new StringBuilder();
        csv.AppendJoin(',', Columns.Select(Quote)).Append("\r\n");
        foreach (var row in Rows)
        {
            csv.AppendJoin(',', row.Select(value => Quote(Format(value)))).Append("\r\n");
        }

        return csv.ToString();
    }

    /// <summary>An array of objects keyed by the column names, numbers as JSON numbers.</summary>
    public string ToJson()
    {
        var rows = Rows.Select(row => Columns.Select((column, i) => (column, value: i < row.Length ? row[i] : null))
            .ToDictionary(c => c.column, c => c.value));
        return JsonSerializer.Serialize(rows, new JsonSerializerOptions { WriteIndented = true });
    }

    public static string Format(object? value) => value switch
    {
        null => "",
        double d => d.ToString("R", CultureInfo.InvariantCulture),
        float f => f.ToString("R", CultureInfo.InvariantCulture),
        IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
        _ => value.ToString() ?? "",
    };

    private static string Quote(string field) =>
        field.AsSpan().IndexOfAny(",\"\r\n") >= 0 ? "\"" + field.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"" : field;
}
