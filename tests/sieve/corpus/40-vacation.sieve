require "vacation";
vacation :days 3 :subject "Out of office" :addresses ["bob@example.net"] "I am away until Monday.";
